package fivenines.testsupport.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SequencedSet;

/** A kernel's modules.dep, read to find which module files to load and in what order. */
final class KernelModules {
    /** Module name (as in {@code virtio_blk}) to its path relative to the module directory. */
    private final Map<String, String> pathByName = new HashMap<>();
    private final Map<String, List<String>> dependenciesByPath = new HashMap<>();

    private KernelModules() {
    }

    static KernelModules read(Path modulesDep) throws IOException {
        var modules = new KernelModules();
        for (String line : Files.readAllLines(modulesDep)) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String path = line.substring(0, colon).trim();
            String rest = line.substring(colon + 1).trim();
            modules.pathByName.put(nameOf(path), path);
            modules.dependenciesByPath.put(path, rest.isEmpty() ? List.of() : List.of(rest.split("\\s+")));
        }
        return modules;
    }

    /** The module files to load, each after the modules it depends on. */
    List<String> loadOrder(List<String> names) {
        SequencedSet<String> ordered = new LinkedHashSet<>();
        for (String name : names) {
            String path = pathByName.get(name);
            if (path == null) {
                throw new IllegalStateException("kernel has no module " + name + " in modules.dep");
            }
            visit(path, ordered);
        }
        return new ArrayList<>(ordered);
    }

    private void visit(String path, SequencedSet<String> ordered) {
        if (ordered.contains(path)) {
            return;
        }
        for (String dependency : dependenciesByPath.getOrDefault(path, List.of())) {
            visit(dependency, ordered);
        }
        ordered.add(path);
    }

    private static String nameOf(String path) {
        String file = path.substring(path.lastIndexOf('/') + 1);
        return file.substring(0, file.indexOf(".ko")).replace('-', '_');
    }
}
