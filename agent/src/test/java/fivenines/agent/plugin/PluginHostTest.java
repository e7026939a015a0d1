package fivenines.agent.plugin;

import fivenines.agent.api.ApiException;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PluginHostTest {
    @TempDir
    Path dir;
    private final List<String> events = new ArrayList<>();

    private PluginHost host() {
        return new PluginHost(plugin -> new HostedContext(plugin.name(), "node0", dir, null, null));
    }

    private Plugin recording(String name, boolean failOnStart) {
        return new Plugin() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public void start(PluginContext context) {
                if (failOnStart) {
                    throw new IllegalStateException("disk missing");
                }
                events.add("start " + name);
            }

            @Override
            public void stop() {
                events.add("stop " + name);
            }

            @Override
            public Map<String, PluginCommand> commands() {
                return Map.of("echo", PluginCommand.of("echo WORDS...", args -> String.join(" ", args)));
            }
        };
    }

    @Test
    void startsInOrderStopsInReverseAndReportsFailures() {
        var host = host();
        host.register(recording("store", false));
        host.register(recording("broken", true));
        host.register(recording("api", false));
        host.startAll();
        assertEquals(List.of("start store", "start api"), events);
        var broken = host.info("broken");
        assertEquals(PluginState.FAILED, broken.state());
        assertEquals(Health.Status.FAILED, broken.health().status());
        assertTrue(broken.health().detail().contains("disk missing"));
        host.stopAll();
        assertEquals(List.of("start store", "start api", "stop api", "stop store"), events);
    }

    @Test
    void unknownPluginsAndCommandsAreAnsweredWithTheValidOnes() {
        var host = host();
        host.register(recording("store", false));
        var noPlugin = assertThrows(ApiException.class, () -> host.start("nope"));
        assertTrue(noPlugin.getMessage().contains("[store]"), noPlugin.getMessage());
        var noCommand = assertThrows(ApiException.class, () -> host.tell("store", "dance", List.of()));
        assertTrue(noCommand.getMessage().contains("[echo]"), noCommand.getMessage());
        assertEquals("a b", host.tell("store", "echo", List.of("a", "b")));
        assertThrows(ApiException.class, () -> host.register(recording("Bad Name", false)));
        assertThrows(ApiException.class, () -> host.register(recording("store", false)));
        assertThrows(ApiException.class, () -> host.unload("store"), "built-in plugins cannot be unloaded");
    }

    @Test
    void pluginsFromAJarLoadInTheirOwnClassLoaderAndUnload() throws Exception {
        Path jar = buildPluginJar("greeter");
        var host = host();
        assertEquals(List.of("greeter"), host.load(jar));
        var info = host.info("greeter");
        assertEquals(PluginState.RUNNING, info.state());
        assertEquals(jar.toAbsolutePath().toString(), info.source());
        Object answer = host.tell("greeter", "hello", List.of("world"));
        assertEquals("hello world from plugin:greeter.jar", answer, "the plugin runs in its own class loader");
        assertTrue(Files.exists(dir.resolve("plugin-data/greeter/started")), "start wrote into its data folder");
        assertThrows(ApiException.class, () -> host.load(jar), "the same plugin twice is refused");
        host.unload("greeter");
        assertThrows(ApiException.class, () -> host.info("greeter"));
        assertTrue(Files.exists(dir.resolve("plugin-data/greeter/stopped")), "unload stopped it first");
        // loading again gives a fresh class loader
        host.load(jar);
        assertEquals(PluginState.RUNNING, host.info("greeter").state());
        assertEquals("hello again from plugin:greeter.jar", host.tell("greeter", "hello", List.of("again")));
    }

    @Test
    void aJarWithoutPluginsOrNoJarAtAllIsRefusedWithAHint() throws Exception {
        var host = host();
        var missing = assertThrows(ApiException.class, () -> host.load(dir.resolve("missing.jar")));
        assertTrue(missing.getMessage().contains("no plugin jar"), missing.getMessage());
        Path empty = dir.resolve("empty.jar");
        try (var out = new JarOutputStream(Files.newOutputStream(empty))) {
            out.putNextEntry(new JarEntry("README"));
            out.write("nothing".getBytes());
        }
        var none = assertThrows(ApiException.class, () -> host.load(empty));
        assertTrue(none.getMessage().contains("META-INF/services/fivenines.plugin.Plugin"), none.getMessage());
        assertTrue(host.list().isEmpty());
    }

    /** Compiles a real plugin from source and packs it as a jar with a ServiceLoader entry. */
    private Path buildPluginJar(String name) throws IOException {
        Path source = dir.resolve("src/demo/Greeter.java");
        Files.createDirectories(source.getParent());
        Files.writeString(source, """
            package demo;
            import fivenines.plugin.*;
            import java.nio.file.*;
            import java.util.*;
            public class Greeter implements Plugin {
                private Path data;
                public String name() { return "%s"; }
                public void start(PluginContext context) throws Exception {
                    data = context.dataDir();
                    Files.writeString(data.resolve("started"), "yes");
                }
                public void stop() throws Exception { Files.writeString(data.resolve("stopped"), "yes"); }
                public Map<String, PluginCommand> commands() {
                    return Map.of("hello", PluginCommand.of("hello NAME", a -> "hello " + a.get(0) + " from "
                        + getClass().getClassLoader().getName()));
                }
            }
            """.formatted(name));
        Path classes = dir.resolve("classes");
        Files.createDirectories(classes);
        var compiler = ToolProvider.getSystemJavaCompiler();
        int status = compiler.run(null, null, null, "-d", classes.toString(), "-cp", System.getProperty("java.class.path"),
            source.toString());
        assertEquals(0, status, "the test plugin must compile");
        Path jar = dir.resolve(name + ".jar");
        try (var out = new JarOutputStream(Files.newOutputStream(jar))) {
            out.putNextEntry(new JarEntry("demo/Greeter.class"));
            out.write(Files.readAllBytes(classes.resolve("demo/Greeter.class")));
            out.putNextEntry(new JarEntry("META-INF/services/fivenines.plugin.Plugin"));
            out.write("demo.Greeter\n".getBytes());
        }
        return jar;
    }
}
