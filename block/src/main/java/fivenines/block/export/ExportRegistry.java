package fivenines.block.export;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/** The exports a block service offers, changed at run time as volumes come and go. */
public final class ExportRegistry implements ExportResolver {
    private final ConcurrentSkipListMap<String, BlockExport> exports = new ConcurrentSkipListMap<>();

    /** Adds an export, replacing one of the same name (connections to the old one keep it). */
    public void add(BlockExport export) {
        exports.put(export.name(), export);
    }

    public Optional<BlockExport> remove(String name) {
        return Optional.ofNullable(exports.remove(name));
    }

    public Optional<BlockExport> find(String name) {
        return Optional.ofNullable(exports.get(name));
    }

    @Override
    public BlockExport resolve(String name) {
        return exports.get(name);
    }

    @Override
    public List<String> names() {
        return List.copyOf(exports.keySet());
    }
}
