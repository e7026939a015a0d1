package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Copies disk images into and out of logical volumes with qemu-img over NBD: the volume is
 * attached on the agent's node for the copy (and detached after) unless it is attached already.
 */
final class VolumeTransfer {
    private VolumeTransfer() {
    }

    /** A volume attached for the length of a copy. */
    record Attached(String uri, boolean attachedHere, boolean inUse) {
    }

    static Attached attach(AgentClient client, String volume) {
        String path = LogicalVolumeCommand.path(volume);
        JsonNode lv = client.get("/v1/lvs/" + path);
        boolean ours = false;
        if (lv.path("attachments").isEmpty()) {
            lv = client.post("/v1/lvs/" + path + "/attach", Map.of("shared", false));
            ours = true;
        }
        JsonNode a = lv.path("attachments").get(0);
        String socket = a.path("nbdUnixUri").asText("");
        int at = socket.indexOf("?socket=");
        String uri = at > 0 && Files.exists(Path.of(socket.substring(at + 8))) ? socket : a.path("nbdUri").asText();
        return new Attached(uri, ours, !ours);
    }

    static void detach(AgentClient client, String volume, Attached attached) {
        if (attached.attachedHere()) {
            client.post("/v1/lvs/" + LogicalVolumeCommand.path(volume) + "/detach", Map.of());
        }
    }

    static JsonNode imageInfo(Path file) {
        if (!Files.isReadable(file)) {
            throw new Nines.UsageException("cannot read " + file);
        }
        String out = execute(List.of("qemu-img", "info", "--output=json", file.toString()), false);
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(out);
        } catch (IOException e) {
            throw new Nines.UsageException("qemu-img cannot read " + file + ": " + out.strip());
        }
    }

    /** Runs a command; with {@code progress} its output goes to the terminal (qemu-img -p draws a progress bar). */
    static String execute(List<String> command, boolean progress) {
        try {
            var builder = new ProcessBuilder(command);
            if (progress) {
                builder.inheritIO();
            } else {
                builder.redirectErrorStream(true);
            }
            Process process = builder.start();
            String out = progress ? "" : new String(process.getInputStream().readAllBytes());
            int exit = process.waitFor();
            if (exit != 0) {
                throw new Nines.UsageException(String.join(" ", command) + " failed (exit " + exit + ")"
                    + (out.isBlank() ? "" : ": " + out.strip()));
            }
            return out;
        } catch (IOException e) {
            throw new Nines.UsageException("cannot run " + command.getFirst() + " (" + e.getMessage()
                + "); install it with: apt-get install qemu-utils");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Nines.UsageException("interrupted");
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
        description = "lv import FILE VG/LV: copy a raw or qcow2 image into a volume (created thin, image-sized, when missing)")
    static final class Import implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--on", description = "when creating the volume, take space on this node first")
        String node;
        @Option(names = "--force", description = "write into the volume even while it is attached or a VM uses it"
            + " (what the guest sees changes under it)")
        boolean force;
        @Parameters(index = "0", paramLabel = "FILE")
        Path file;
        @Parameters(index = "1", paramLabel = "VG/LV")
        String volume;

        @Override
        public void run() {
            String path = LogicalVolumeCommand.path(volume);
            JsonNode info = imageInfo(file);
            long virtualSize = info.path("virtual-size").asLong();
            String format = info.path("format").asText("raw");
            AgentClient client = agent.client();
            boolean created = false;
            try {
                JsonNode lv = client.get("/v1/lvs/" + path);
                if (!force) {
                    refuseIfInUse(client, volume, lv);
                }
                if (lv.path("size").asLong() < virtualSize) {
                    throw new Nines.UsageException(volume + " holds " + Sizes.format(lv.path("size").asLong()) + " but " + file
                        + " is " + Sizes.format(virtualSize) + "; extend it first with 'nines lv extend -L SIZE " + volume + "'");
                }
            } catch (AgentClientException e) {
                if (e.status() != 404) {
                    throw e;
                }
                int slash = volume.indexOf('/');
                var body = new HashMap<String, Object>();
                body.put("vg", volume.substring(0, slash));
                body.put("name", volume.substring(slash + 1));
                body.put("size", virtualSize);
                body.put("thin", true);
                if (node != null) {
                    body.put("on", node);
                }
                client.post("/v1/lvs", body);
                created = true;
            }
            Attached attached = attach(client, volume);
            try {
                var command = new ArrayList<>(List.of("qemu-img", "convert", "-p", "-n", "-f", format, "-O", "raw"));
                if (created) {
                    command.add("--target-is-zero");
                }
                command.add(file.toString());
                command.add(attached.uri());
                System.out.println("importing " + file + " (" + format + ", " + Sizes.format(virtualSize) + ") into " + volume);
                execute(command, true);
            } finally {
                detach(client, volume, attached);
            }
            System.out.println(volume + " imported from " + file);
        }
    }

    /**
     * Refuses (exit 1, nothing written) an import into a volume that is attached or belongs to a VM
     * that is not stopped: the copy would overwrite a disk under a running guest.
     */
    static void refuseIfInUse(AgentClient client, String volume, JsonNode lv) {
        var users = new ArrayList<String>();
        for (JsonNode vm : client.get("/v1/vms")) {
            boolean uses = false;
            for (JsonNode disk : vm.path("definition").path("disks")) {
                uses |= disk.path("volume").asText().equals(volume);
            }
            if (uses && !(vm.path("desired").asText().equals("stopped") && vm.path("phase").asText().equals("stopped"))) {
                users.add("VM " + vm.path("name").asText() + " (" + vm.path("state").asText()
                    + (vm.path("node").isTextual() ? " on " + vm.path("node").asText() : "") + ")");
            }
        }
        var nodes = new ArrayList<String>();
        lv.path("attachments").forEach(a -> nodes.add(a.path("node").asText()));
        if (users.isEmpty() && nodes.isEmpty()) {
            return;
        }
        String what = !users.isEmpty() ? "is the disk of " + String.join(", ", users)
            + (nodes.isEmpty() ? "" : " and is attached on " + String.join(", ", nodes))
            : "is attached on " + String.join(", ", nodes);
        String next = !users.isEmpty()
            ? "stop the VM first ('nines vm stop " + users.getFirst().split(" ")[1] + "'), or pass --force to overwrite it anyway"
            : "detach it first ('nines lv detach " + volume + "'), or pass --force to overwrite it anyway";
        throw new AgentClientException(409, volume + " " + what + "; importing would overwrite the disk under it, so nothing"
            + " was written. " + Character.toUpperCase(next.charAt(0)) + next.substring(1), false);
    }

    @Command(name = "export", mixinStandardHelpOptions = true,
        description = "lv export VG/LV FILE [-O raw|qcow2]: copy a volume into an image file")
    static final class Export implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "-O", description = "image format: raw or qcow2 (default: from the file name, else raw)")
        String format;
        @Parameters(index = "0", paramLabel = "VG/LV")
        String volume;
        @Parameters(index = "1", paramLabel = "FILE")
        Path file;

        @Override
        public void run() {
            String output = format != null ? format : file.toString().endsWith(".qcow2") ? "qcow2" : "raw";
            if (!output.equals("raw") && !output.equals("qcow2")) {
                throw new Nines.UsageException("format '" + output + "' is not raw or qcow2");
            }
            if (Files.exists(file)) {
                throw new Nines.UsageException(file + " exists already; remove it or choose another name");
            }
            AgentClient client = agent.client();
            Attached attached = attach(client, volume);
            if (attached.inUse()) {
                System.err.println("warning: " + volume + " is attached and may be written during the copy; "
                    + "for a consistent copy export a snapshot ('nines lv snapshot " + volume + " -n NAME')");
            }
            try {
                execute(List.of("qemu-img", "convert", "-p", "-f", "raw", "-O", output, attached.uri(), file.toString()), true);
            } finally {
                detach(client, volume, attached);
            }
            System.out.println(volume + " exported to " + file + " (" + output + ")");
        }
    }
}
