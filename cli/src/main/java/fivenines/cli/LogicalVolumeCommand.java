package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/** Logical volume commands. */
@Command(name = "lv", mixinStandardHelpOptions = true, description = "Carve logical volumes out of volume groups.",
    subcommands = {LogicalVolumeCommand.Create.class, LogicalVolumeCommand.Extend.class, LogicalVolumeCommand.Rename.class,
        LogicalVolumeCommand.Remove.class, LogicalVolumeCommand.ListVolumes.class, LogicalVolumeCommand.Show.class,
        LogicalVolumeCommand.Snapshot.class, LogicalVolumeCommand.Attach.class, LogicalVolumeCommand.Detach.class,
        LogicalVolumeCommand.Convert.class, LogicalVolumeCommand.Resync.class, LogicalVolumeCommand.Check.class,
        VolumeTransfer.Import.class, VolumeTransfer.Export.class})
final class LogicalVolumeCommand {

    /** VG/LV as a URL path. */
    static String path(String volume) {
        int slash = volume.indexOf('/');
        if (slash <= 0 || slash == volume.length() - 1 || volume.indexOf('/', slash + 1) >= 0) {
            throw new Nines.UsageException("'" + volume + "' is not VG/LV");
        }
        return AgentClient.encode(volume.substring(0, slash)) + "/" + AgentClient.encode(volume.substring(slash + 1));
    }

    static void print(String verb, JsonNode lv) {
        String where = lv.path("nodes").isEmpty() ? (lv.path("thin").asBoolean() ? ", thin: space is taken on first write" : "")
            : " on " + nodes(lv.path("nodes"));
        System.out.println("logical volume " + lv.path("path").asText() + " " + verb + ": " + Sizes.format(lv.path("size").asLong())
            + where);
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
        description = "lv create -n NAME -L SIZE [--thin] [-m 1|2 [--alloc anywhere]] [--on NODE] VG")
    static final class Create implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = {"-n", "--name"}, required = true)
        String name;
        @Option(names = {"-L", "--size"}, required = true, description = "e.g. 4G; MiB without a unit, as in LVM")
        String size;
        @Option(names = "--on", description = "take extents on this node first")
        String node;
        @Option(names = {"-T", "--thin"}, description = "take space on first write (may be larger than the group)")
        boolean thin;
        @Option(names = {"-m", "--mirrors"}, description = "copies beyond the first, each on another node (LVM's -m)")
        Integer mirrors;
        @Option(names = "--alloc", description = "'anywhere': legs may be on different PVs of one node")
        String alloc;
        @Parameters(paramLabel = "VG")
        String vg;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            body.put("vg", vg);
            body.put("name", name);
            body.put("size", Sizes.parse(size));
            body.put("thin", thin);
            if (mirrors != null) {
                body.put("mirrors", mirrors);
            }
            if (alloc != null) {
                body.put("alloc", alloc);
            }
            if (node != null) {
                body.put("on", node);
            }
            print("created", agent.client().post("/v1/lvs", body));
        }
    }

    @Command(name = "extend", mixinStandardHelpOptions = true, description = "lv extend -L [+]SIZE VG/LV")
    static final class Extend implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = {"-L", "--size"}, required = true,
            description = "the new size (8G), or '+SIZE' to add to it (+1G); MiB without a unit, as in LVM")
        String size;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            Sizes.Size requested = Sizes.parseSigned(size);
            var body = switch (requested.sign()) {
                case ABSOLUTE -> Map.of("size", requested.bytes());
                case PLUS -> Map.of("by", requested.bytes());
                case MINUS -> throw new Nines.UsageException("'-L " + size + "' would shrink " + volume
                    + ", and shrinking a logical volume is not supported; give a larger size or '+SIZE'");
            };
            print("extended", agent.client().post("/v1/lvs/" + path(volume) + "/extend", body));
        }
    }

    @Command(name = "rename", mixinStandardHelpOptions = true, description = "lv rename VG/LV NEWNAME")
    static final class Rename implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "VG/LV")
        String volume;
        @Parameters(index = "1", paramLabel = "NEWNAME")
        String newName;

        @Override
        public void run() {
            print("renamed", agent.client().post("/v1/lvs/" + path(volume) + "/rename", Map.of("newName", newName)));
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "lv remove VG/LV (frees its extents)")
    static final class Remove implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            agent.client().delete("/v1/lvs/" + path(volume));
            System.out.println("logical volume " + volume + " removed");
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every logical volume, LVM style.")
    static final class ListVolumes extends ApiView {
        @Override
        String path() {
            return "/v1/lvs";
        }

        @Override
        void print(JsonNode lvs) {
            var table = new Table("LV", "VG", "ATTR", "LSIZE", "DATA%", "CPY%SYNC", "ORIGIN", "ATTACHED", "NODES");
            for (JsonNode lv : lvs) {
                var attached = new java.util.ArrayList<String>();
                lv.path("attachments").forEach(a -> attached.add(a.path("node").asText()));
                table.row(lv.path("name").asText(), lv.path("vg").asText(), lv.path("attributes").asText(),
                    Sizes.format(lv.path("size").asLong()),
                    lv.path("thin").asBoolean() ? String.format(Locale.ROOT, "%.2f", lv.path("dataPercent").asDouble()) : "",
                    lv.path("mirrors").asInt() > 0 ? String.format(Locale.ROOT, "%.2f", lv.path("copyPercent").asDouble()) : "",
                    lv.path("origin").isTextual() ? lv.path("origin").asText() : "", String.join(",", attached),
                    nodes(lv.path("nodes")));
            }
            table.print(System.out);
        }
    }

    static String nodes(JsonNode array) {
        var names = new java.util.ArrayList<String>();
        array.forEach(n -> names.add(n.asText()));
        return String.join(",", names);
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One logical volume.")
    static final class Show extends ApiView {
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        String path() {
            return "/v1/lvs/" + LogicalVolumeCommand.path(volume);
        }

        @Override
        void print(JsonNode lv) {
            lv.fields().forEachRemaining(e -> {
                if (!e.getKey().equals("legs")) {
                    System.out.printf("%-24s %s%n", e.getKey() + ":", e.getValue().isTextual() ? e.getValue().asText() : e.getValue());
                }
            });
            if (lv.path("legs").size() > 1) {
                System.out.println("legs:");
                var table = new Table("  LEG", "NODE", "PV", "STATE", "SINCE", "TO COPY", "WHY");
                for (JsonNode leg : lv.path("legs")) {
                    long since = leg.path("since").asLong();
                    table.row("  " + leg.path("index").asInt(), leg.path("node").asText("") + (leg.path("nodeUp").asBoolean(true)
                            ? "" : " (down)"), leg.path("physicalVolume").asText(""),
                        leg.path("state").asText() + (leg.hasNonNull("replaces") ? " (replaces " + leg.path("replaces").asInt() + ")" : ""),
                        since == 0 ? "" : java.time.Instant.ofEpochMilli(since).toString(),
                        leg.path("missedBytes").asLong() == 0 ? "" : Sizes.format(leg.path("missedBytes").asLong()),
                        leg.path("reason").asText(""));
                }
                table.print(System.out);
            }
            JsonNode resync = lv.path("resync");
            if (resync.isObject()) {
                long eta = resync.path("etaSeconds").asLong();
                System.out.println(resync.path("what").asText() + ": " + Sizes.format(resync.path("bytesLeft").asLong()) + " left at "
                    + Sizes.format(resync.path("bytesPerSecond").asLong()) + "/s" + (eta >= 0 ? ", about " + eta + " s to go" : ""));
            }
        }
    }

    @Command(name = "convert", mixinStandardHelpOptions = true,
        description = "lv convert -m N | --replace NODE[:PV] | --repair VG/LV: add or remove legs, move one, replace lost ones")
    static final class Convert implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = {"-m", "--mirrors"}, description = "copies beyond the first (a new leg copies everything)")
        Integer mirrors;
        @Option(names = "--replace", description = "move the leg on NODE (or NODE:PV) elsewhere")
        String replace;
        @Option(names = "--repair", description = "replace every leg out of the set whose node is down or gone")
        boolean repair;
        @Option(names = "--on", description = "put the new leg on this node")
        String node;
        @Option(names = "--alloc", description = "'anywhere': a new leg may be on another PV of a node with a leg")
        String alloc;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            if (mirrors != null) {
                body.put("mirrors", mirrors);
            }
            if (replace != null) {
                body.put("replace", replace);
            }
            if (repair) {
                body.put("repair", true);
            }
            if (node != null) {
                body.put("on", node);
            }
            if (alloc != null) {
                body.put("alloc", alloc);
            }
            JsonNode lv = agent.client().post("/v1/lvs/" + path(volume) + "/convert", body);
            System.out.println(volume + " converted: " + lv.path("legs").size() + " legs; " + lv.path("health").asText());
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
        description = "lv check VG/LV [--repair [--from LEG]]: compare the legs online (LVM's --syncaction check|repair)")
    static final class Check implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--repair", description = "rewrite the chunks that differ, from one leg onto the others")
        boolean repair;
        @Option(names = "--from", description = "the leg to repair from (default: the serving node's leg, else the first)")
        Integer from;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            body.put("repair", repair);
            if (from != null) {
                body.put("from", from);
            }
            JsonNode result = agent.client().post("/v1/lvs/" + path(volume) + "/check", body);
            long mismatched = result.path("mismatchedChunks").asLong();
            System.out.println(volume + ": legs " + result.path("legsCompared") + " compared over "
                + Sizes.format(result.path("chunksChecked").asLong() << 20) + ": " + (mismatched == 0 ? "alike"
                : Sizes.format(mismatched << 20) + " differ (mismatch count " + mismatched + ", in 1 MiB chunks: "
                + result.path("mismatched") + ")" + (result.hasNonNull("repairedFrom") ? "; rewritten from leg "
                + result.path("repairedFrom").asInt() : "; 'nines lv check --repair' rewrites them")));
            if (mismatched > 0 && !repair) {
                throw new Nines.CommandFailed(volume + ": its legs differ in " + mismatched + " chunks");
            }
        }
    }

    @Command(name = "resync", mixinStandardHelpOptions = true,
        description = "lv resync VG/LV [--follow]: how far the legs out of the set have come; with --follow, until all are in sync")
    static final class Resync implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--follow", description = "show progress until every leg is in sync")
        boolean follow;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            long lastLeft = -1;
            long lastAt = 0;
            while (true) {
                JsonNode lv = agent.client().get("/v1/lvs/" + path(volume));
                long left = 0;
                for (JsonNode leg : lv.path("legs")) {
                    left = Math.max(left, leg.path("missedBytes").asLong());
                }
                double percent = lv.path("copyPercent").asDouble(100);
                long now = System.nanoTime();
                String rate = "";
                if (lastLeft >= 0 && lastLeft > left) {
                    double perSecond = (lastLeft - left) / ((now - lastAt) / 1e9);
                    rate = String.format(Locale.ROOT, ", %s/s, about %d s to go", Sizes.format((long) perSecond),
                        (long) Math.ceil(left / Math.max(1, perSecond)));
                }
                int width = 30;
                int filled = (int) Math.round(percent / 100 * width);
                String bar = "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
                boolean done = !lv.path("health").asText().startsWith("degraded");
                if (!done && lv.path("attachments").isEmpty()) {
                    // the engine of the node a volume is attached to resyncs it, as LVM resyncs a raid1 LV once active
                    throw new Nines.CommandFailed(volume + " is degraded (" + Sizes.format(left) + " to copy) and attached nowhere: its legs"
                        + " are resynced by the node it is attached to; attach it (nines lv attach " + volume
                        + " --node NODE) and the resync starts");
                }
                System.out.print((follow ? "\r" : "") + volume + " " + bar + String.format(Locale.ROOT, " %6.2f%%", percent)
                    + " Cpy%Sync, " + Sizes.format(left) + " to copy" + rate + (done ? "; " + lv.path("health").asText() : ""));
                if (!follow || done) {
                    System.out.println();
                    return;
                }
                lastLeft = left;
                lastAt = now;
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    @Command(name = "snapshot", mixinStandardHelpOptions = true,
        description = "lv snapshot VG/LV -n NAME [--writable]: a thin snapshot (a clone when writable), in constant time")
    static final class Snapshot implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = {"-n", "--name"}, required = true)
        String name;
        @Option(names = "--writable", description = "a clone that may be written (else read-only)")
        boolean writable;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            JsonNode lv = agent.client().post("/v1/lvs/" + path(volume) + "/snapshot", Map.of("name", name, "writable", writable));
            System.out.println("logical volume " + lv.path("path").asText() + " created: " + (writable ? "writable " : "read-only ")
                + "snapshot of " + volume + ", " + Sizes.format(lv.path("size").asLong()));
        }
    }

    @Command(name = "attach", mixinStandardHelpOptions = true,
        description = "lv attach VG/LV [--node N] [--shared]: serve the volume on a node over NBD and print its URIs")
    static final class Attach implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--node", description = "the node that serves it (default: the agent's node)")
        String node;
        @Option(names = "--shared", description = "allow other attachments at once (live migration)")
        boolean shared;
        @Option(names = "--force", description = "take it from the node serving it now, which is cut off")
        boolean force;
        @Option(names = "--json", description = "print JSON")
        boolean json;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            if (node != null) {
                body.put("node", node);
            }
            body.put("shared", shared);
            body.put("force", force);
            JsonNode lv = agent.client().post("/v1/lvs/" + path(volume) + "/attach", body);
            if (json) {
                Output.json(System.out, lv);
                return;
            }
            for (JsonNode a : lv.path("attachments")) {
                if (node == null || a.path("node").asText().equals(node)) {
                    System.out.println(volume + " attached on " + a.path("node").asText() + " (epoch " + a.path("epoch").asLong()
                        + (a.path("shared").asBoolean() ? ", shared" : "") + ")");
                    System.out.println("  " + a.path("nbdUnixUri").asText());
                    System.out.println("  " + a.path("nbdUri").asText());
                }
            }
        }
    }

    @Command(name = "detach", mixinStandardHelpOptions = true,
        description = "lv detach VG/LV [--node N]: stop serving it (every node when none is named); its epoch moves on")
    static final class Detach implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--node", description = "only this node's attachment")
        String node;
        @Parameters(paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            if (node != null) {
                body.put("node", node);
            }
            agent.client().post("/v1/lvs/" + path(volume) + "/detach", body);
            System.out.println(volume + " detached" + (node != null ? " from " + node : ""));
        }
    }
}
