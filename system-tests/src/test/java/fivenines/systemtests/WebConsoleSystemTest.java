package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.microsoft.playwright.Browser;
import com.microsoft.playwright.BrowserType;
import com.microsoft.playwright.Locator;
import com.microsoft.playwright.Page;
import com.microsoft.playwright.Playwright;
import com.microsoft.playwright.assertions.LocatorAssertions;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.guest.TestGuest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static com.microsoft.playwright.assertions.PlaywrightAssertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The web console in a real browser (Debian's chromium driven by Playwright) against a cluster of
 * three real agents: a wrong token is refused, the right one signs in, the three nodes are shown,
 * a volume made through the dialog is listed (then snapshotted and the snapshot removed), a node
 * goes into maintenance and out again, a leg added to a volume resyncs with its progress in the
 * task list, the test guest started from the page prints its
 * console lines into it, and a migration started from the page shows its task and result.
 * Screenshots go to target/web-console/.
 */
class WebConsoleSystemTest extends ClusterSystemTest {
    private static final long MiB = 1L << 20;
    private static final Path SHOTS = Path.of("target", "web-console");

    /** QEMU runs daemonized and outlives the agents: every one of this test's is ended. */
    @AfterEach
    void stopGuests() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
        for (ProcessHandle process : ProcessHandle.allProcesses().toList()) {
            String commandLine = process.info().commandLine().orElse("");
            if (commandLine.contains("qemu-system") && commandLine.contains(dir.toString())) {
                process.destroyForcibly();
                process.onExit().get();
            }
        }
    }

    @Test
    void anOperatorSignsInSeesTheClusterCreatesAVolumeStartsAGuestFollowsItsConsoleAndMigratesIt() throws Exception {
        TestGuest guest = TestGuest.build();
        cluster = TestCluster.ofThree(dir);
        AgentProcess node0 = cluster.get("node0");
        String pv0 = pv("node0", "pv0.img", 256 * MiB);
        String pv1 = pv("node1", "pv1.img", 256 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv0, pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "web-disk", "size", 64 * MiB, "thin", true, "on", "node0"));
        defineGuest("web", guest, "vg/web-disk");
        Files.createDirectories(SHOTS);

        var environment = new HashMap<>(System.getenv());
        environment.put("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        try (Playwright playwright = Playwright.create(new Playwright.CreateOptions().setEnv(environment));
             Browser browser = playwright.chromium().launch(new BrowserType.LaunchOptions()
                 .setExecutablePath(Paths.get("/usr/bin/chromium")).setArgs(List.of("--no-sandbox")).setHeadless(true))) {
            Page page = browser.newContext(new Browser.NewContextOptions().setViewportSize(1500, 1100)).newPage();
            page.setDefaultTimeout(60_000);
            // a loaded CI machine takes seconds for a commit and a refresh: waits end at 60 s, not Playwright's 5 s
            com.microsoft.playwright.assertions.PlaywrightAssertions.setDefaultAssertionTimeout(60_000);

            // without a session: the sign-in page, and the API refuses the browser
            page.navigate(node0.url() + "/");
            assertThat(page.locator("#signin-form")).isVisible();
            assertEquals(401, page.request().get(node0.url() + "/v1/nodes").status(), "no cookie, no API");
            assertEquals(401, page.request().get(node0.url() + "/console/app.js").status(), "nor the console's own script");

            // a wrong token: refused, saying so, still on the sign-in page
            page.fill("#token", "0".repeat(64));
            page.click("#signin");
            assertThat(page.locator("#signin-error")).containsText("not this cluster's token");
            assertThat(page.locator("#nodes")).hasCount(0);
            page.screenshot(new Page.ScreenshotOptions().setPath(SHOTS.resolve("signin-refused.png")));

            // the cluster token: the console, with three nodes, all up, one leader
            page.fill("#token", node0.secret());
            page.click("#signin");
            assertThat(page.locator("#nodes tbody tr")).hasCount(3);
            for (String node : List.of("node0", "node1", "node2")) {
                assertThat(page.locator("#nodes tr[data-node='" + node + "'] td").nth(1)).hasText("up");
                assertThat(page.locator("#nodes tr[data-node='" + node + "'] td").nth(2)).hasText("held");
            }
            assertThat(page.locator("#nodes .leader")).hasCount(1);
            assertThat(page.locator("#vgs tr[data-vg='vg']")).isVisible();
            assertThat(page.locator("#vms tr[data-vm='web'] td").nth(1)).hasText("stopped");
            String cookies = page.context().cookies().toString();
            assertTrue(page.context().cookies().stream().anyMatch(c -> c.name.equals("nines_session") && c.httpOnly
                && c.sameSite == com.microsoft.playwright.options.SameSiteAttribute.STRICT), cookies);

            // a volume made through the dialog is listed, and exists in the store
            page.click("#lv-create");
            page.fill("#field-name", "made-in-browser");
            page.selectOption("#field-vg", "vg");
            page.fill("#field-size", "32");
            page.click("#dialog-ok");
            assertThat(page.locator("#message")).containsText("vg/made-in-browser created");
            Locator made = page.locator("#lvs tr[data-lv='vg/made-in-browser']");
            assertThat(made).isVisible();
            assertThat(made.locator("td").nth(1)).hasText("32 MiB");
            assertEquals(32 * MiB, api("node1").get("/v1/lvs/vg/made-in-browser").path("size").asLong());

            // a snapshot of it through its dialog, then removed through its own
            made.locator("button.lv-snapshot").click();
            page.fill("#field-name", "made-snap");
            page.click("#dialog-ok");
            Locator snapshot = page.locator("#lvs tr[data-lv='vg/made-snap']");
            assertThat(snapshot.locator("td").first()).containsText("made-in-browser");
            snapshot.locator("button.lv-remove").click();
            assertThat(page.locator("#dialog-text")).containsText("cannot be undone");
            page.click("#dialog-ok");
            assertThat(page.locator("#message")).containsText("vg/made-snap removed");
            assertThat(snapshot).hasCount(0);

            // maintenance on node2 (no VMs there) and off again; the agent's drain shows in the task list
            Locator node2 = page.locator("#nodes tr[data-node='node2']");
            node2.locator("button.maintenance-on").click();
            page.click("#dialog-ok");
            assertThat(node2.locator("td").nth(4)).hasText("on");
            assertThat(page.locator("#tasks tr[data-task='maintenance:node2'] td").nth(4)).hasText("completed");
            assertTrue(api("node1").get("/v1/nodes").toString().contains("\"maintenance\":true"), "the store has it");
            node2.locator("button.maintenance-off").click();
            page.click("#dialog-ok");
            assertThat(node2.locator("td").nth(4)).hasText("-");
            assertThat(page.locator("#tasks tr[data-task='return:node2'] td").nth(4)).hasText("completed");

            // a leg added to a written volume copies it, throttled (16 s at 1 MiB/s, several refreshes of the page): the resync shows in the task list with the
            // engine's progress and in the volume's row (the leg resyncing, Cpy%Sync below 100), then both are done
            api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "mirrored", "size", 16 * MiB, "on", "node0"));
            String uri = api("node0").post("/v1/lvs/vg/mirrored/attach", Map.of("node", "node0")).path("attachments").get(0)
                .path("nbdUnixUri").asText();
            qemuIo(uri, "write -P 0x5c 0 16M", "flush");
            api("node0").put("/v1/config/volume.resync_mib_per_s", Map.of("value", "1"));
            api("node0").post("/v1/lvs/vg/mirrored/convert", Map.of("mirrors", 1));
            Locator resync = page.locator("#tasks tr[data-task='resync:vg/mirrored']");
            assertThat(resync.locator("td").nth(4)).hasText("running");
            assertThat(resync.locator("td").nth(2)).containsText("resync of leg 1");
            assertThat(resync.locator("td.task-progress")).containsText("%");
            assertThat(resync.locator("td.task-detail")).containsText("MiB left");
            // the bar is as long as the percent says (read together, from one rendering)
            List<?> shown = (List<?>) resync.locator("td.task-progress").evaluate("td => [td.textContent,"
                + " td.querySelector('.bar > i').getBoundingClientRect().width / td.querySelector('.bar').getBoundingClientRect().width]");
            double percent = Double.parseDouble(shown.get(0).toString().strip().replace("%", ""));
            double filled = ((Number) shown.get(1)).doubleValue() * 100;
            assertEquals(percent, filled, 2.0, "the progress bar's fill against its text: " + shown);
            Locator mirrored = page.locator("#lvs tr[data-lv='vg/mirrored']");
            assertThat(mirrored.locator("td.legs")).containsText("1: node1 resyncing");
            String copy = mirrored.locator("td.lv-copy").textContent();
            assertTrue(Double.parseDouble(copy) < 100, "Cpy%Sync while resyncing: " + copy);
            page.screenshot(new Page.ScreenshotOptions().setPath(SHOTS.resolve("resync.png")).setFullPage(true));
            assertThat(mirrored.locator("td.legs")).containsText("1: node1 in-sync",
                new LocatorAssertions.ContainsTextOptions().setTimeout(120_000));
            assertThat(mirrored.locator("td.lv-copy")).hasText("100.00");
            assertThat(resync).hasCount(0, new LocatorAssertions.HasCountOptions().setTimeout(30_000));
            api("node0").put("/v1/config/volume.resync_mib_per_s", Map.of("value", "0"));

            // the guest started from the page runs on node0; its console lines show in the page
            Locator vm = page.locator("#vms tr[data-vm='web']");
            vm.locator("button.vm-start").click();
            page.selectOption("#field-node", "node0");
            page.click("#dialog-ok");
            assertThat(vm.locator("td").nth(1)).hasText("running", new LocatorAssertions.HasTextOptions().setTimeout(150_000));
            assertThat(vm.locator("td.vm-node")).hasText("node0");
            vm.locator("button.vm-console").click();
            Locator console = page.locator("#console-text");
            assertThat(console).containsText(TestGuest.UP_LINE, new LocatorAssertions.ContainsTextOptions().setTimeout(150_000));
            assertThat(console).containsText("NINES-WORKLOAD seq=", new LocatorAssertions.ContainsTextOptions().setTimeout(60_000));
            assertThat(page.locator("#console-node")).hasText("on node0");
            page.screenshot(new Page.ScreenshotOptions().setPath(SHOTS.resolve("console.png")).setFullPage(true));

            // migrated from the page: the task shows up with its progress, completes, and the VM runs on node1
            vm.locator("button.vm-migrate").click();
            page.selectOption("#field-node", "node1");
            page.click("#dialog-ok");
            assertThat(page.locator("#message")).containsText("migration of web to node1 started");
            Locator task = page.locator("#tasks tr[data-task='migration:web']");
            Set<String> seen = new LinkedHashSet<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(180).toNanos();
            String state = "";
            while (System.nanoTime() < deadline) {
                if (task.count() > 0) {
                    state = task.locator("td").nth(4).textContent();
                    seen.add(state + " " + task.locator("td.task-progress").textContent().strip());
                    if (state.equals("completed") || state.equals("failed")) {
                        break;
                    }
                }
                page.waitForTimeout(100);
            }
            assertEquals("completed", state, "the task's states seen: " + seen + "; detail: "
                + (task.count() > 0 ? task.locator("td.task-detail").textContent() : "no task row"));
            assertThat(task.locator("td").nth(1)).hasText("node0");
            assertThat(task.locator("td").nth(2)).hasText("live migration to node1");
            assertTrue(task.locator("td.task-progress").textContent().matches(".*\\d+\\.\\d%.*"),
                "the progress QEMU reported: " + task.locator("td.task-progress").textContent());
            JsonNode reported = api("node0").get("/v1/vms/web/migration");
            assertEquals("completed", reported.path("state").asText(), "the page shows what the source agent reports: " + reported);
            assertThat(vm.locator("td.vm-node")).hasText("node1", new LocatorAssertions.HasTextOptions().setTimeout(30_000));
            page.screenshot(new Page.ScreenshotOptions().setPath(SHOTS.resolve("migrated.png")).setFullPage(true));
            System.out.println("WebConsoleSystemTest: the migration task as the page showed it: " + seen);

            // the console follows the guest to node1 and keeps printing there (the guest was not rebooted)
            assertThat(page.locator("#console-node")).hasText("on node1", new LocatorAssertions.HasTextOptions().setTimeout(30_000));
            assertThat(console).containsText("NINES-WORKLOAD seq=", new LocatorAssertions.ContainsTextOptions().setTimeout(60_000));
            assertFalse(console.textContent().contains(TestGuest.UP_LINE), "node1's console is the same guest, not a new boot");
            page.screenshot(new Page.ScreenshotOptions().setPath(SHOTS.resolve("followed.png")).setFullPage(true));

            // a change without the session's CSRF token is refused, even with the cookie
            var forged = page.request().post(node0.url() + "/v1/lvs", com.microsoft.playwright.options.RequestOptions.create()
                .setHeader("Content-Type", "application/json")
                .setData(Map.of("vg", "vg", "name", "forged", "size", 8 * MiB)));
            assertEquals(403, forged.status(), forged.text());
            var absent = assertThrows(AgentClientException.class, () -> api("node0").get("/v1/lvs/vg/forged"));
            assertEquals(404, absent.status(), "nothing was made");

            // signed out: back to the sign-in page, and the cookie opens nothing
            page.click("#signout");
            assertThat(page.locator("#signin-form")).isVisible();
            assertEquals(401, page.request().get(node0.url() + "/v1/nodes").status());
        }
        cluster.assertNoUnexpectedErrors();
    }

    // ---- helpers ----

    private AgentClient api(String node) throws java.io.IOException {
        AgentProcess agent = cluster.get(node);
        return Agents.client(agent, agent.secret(), Duration.ofSeconds(180));
    }

    private static void qemuIo(String uri, String... commands) throws Exception {
        var command = new java.util.ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(uri);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "qemu-io did not finish");
        assertEquals(0, process.exitValue(), out);
        assertFalse(out.contains("failed"), out);
    }

    private String pv(String node, String file, long size) throws java.io.IOException {
        return api(node).post("/v1/pvs", Map.of("path", dir.resolve(file).toString(), "size", size)).path("name").asText();
    }

    private void defineGuest(String name, TestGuest guest, String volume) throws java.io.IOException {
        var definition = new LinkedHashMap<String, Object>();
        definition.put("name", name);
        definition.put("memoryMib", 128);
        definition.put("vcpus", 1);
        definition.put("boot", Map.of("kernel", guest.kernel().toString(), "initrd", guest.initrd().toString(),
            "commandLine", TestGuest.writeWorkloadCommandLine()));
        definition.put("disks", List.of(Map.of("volume", volume, "bus", "virtio", "cache", "writeback", "readOnly", false)));
        definition.put("nics", List.of());
        definition.put("onCrash", "restart");
        definition.put("priority", 0);
        api("node0").post("/v1/vms", Map.of("definition", definition));
    }
}
