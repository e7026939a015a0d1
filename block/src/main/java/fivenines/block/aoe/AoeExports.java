package fivenines.block.aoe;

import fivenines.block.export.BlockExport;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Supplier;

/**
 * The AoE targets this node serves, one per shelf.slot. Every check is made before anything
 * starts: a bad address or interface, or an address already served here, changes nothing.
 * Targets live as long as the process (they are not recorded in the store).
 */
public final class AoeExports implements AutoCloseable {
    /** One target: its address, interface, what it serves (a volume path or a PV) and the export behind it. */
    public record Entry(int shelf, int slot, String interfaceName, String source, String exportName, AoeTarget target) {
        public String address() {
            return "e" + shelf + "." + slot;
        }
    }

    private final List<Entry> entries = new ArrayList<>();

    /**
     * Starts a target for {@code source} at {@code eSHELF.SLOT} on {@code interfaceName}.
     *
     * @param export asked at every ATA command (null while the export is not served here)
     * @throws IllegalArgumentException for a shelf or slot out of range, or an interface that does not exist
     * @throws IllegalStateException    when the address (or the source on that interface) is already served
     * @throws IOException              when the packet socket cannot be opened
     */
    public synchronized Entry export(String source, String exportName, Supplier<BlockExport> export, int shelf, int slot,
                                     String interfaceName) throws IOException {
        if (shelf < 0 || shelf >= AoeProtocol.BROADCAST_SHELF) {
            throw new IllegalArgumentException("shelf " + shelf + " is outside 0..65534 (65535 is the broadcast shelf)");
        }
        if (slot < 0 || slot >= AoeProtocol.BROADCAST_SLOT) {
            throw new IllegalArgumentException("slot " + slot + " is outside 0..254 (255 is the broadcast slot)");
        }
        for (Entry e : entries) {
            if (e.shelf() == shelf && e.slot() == slot) {
                throw new IllegalStateException(e.address() + " is already exported here (" + e.source() + " on "
                    + e.interfaceName() + "); 'nines aoe unexport " + e.address() + "' first or pick another shelf.slot");
            }
            if (e.source().equals(source) && e.interfaceName().equals(interfaceName)) {
                throw new IllegalStateException(source + " is already exported on " + interfaceName + " as " + e.address());
            }
        }
        RawSocket.InterfaceInfo info;
        try {
            info = RawSocket.interfaceInfo(interfaceName);
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
        AoeProtocol.sectorsPerFrame(info.mtu());
        AoeTarget target = AoeTarget.start(new AoeTarget.Config(interfaceName, shelf, slot), export);
        Entry entry = new Entry(shelf, slot, interfaceName, source, exportName, target);
        entries.add(entry);
        entries.sort(Comparator.comparingInt(Entry::shelf).thenComparingInt(Entry::slot));
        return entry;
    }

    /** Stops the target at {@code eSHELF.SLOT} (or {@code SHELF.SLOT}). */
    public Entry unexport(String address) {
        int[] parsed = parseAddress(address);
        Entry found;
        synchronized (this) {
            found = entries.stream().filter(e -> e.shelf() == parsed[0] && e.slot() == parsed[1]).findFirst()
                .orElseThrow(() -> new NoSuchElementException("no AoE export e" + parsed[0] + "." + parsed[1]
                    + " on this node; 'nines aoe list' shows them"));
            entries.remove(found);
        }
        found.target().close();
        return found;
    }

    /** Stops every target serving {@code source} (its volume or PV went away). */
    public List<Entry> unexportSource(String source) {
        List<Entry> gone;
        synchronized (this) {
            gone = entries.stream().filter(e -> e.source().equals(source)).toList();
            entries.removeAll(gone);
        }
        gone.forEach(e -> e.target().close());
        return gone;
    }

    public synchronized List<Entry> list() {
        return List.copyOf(entries);
    }

    /** {@code e1.2} or {@code 1.2} as {shelf, slot}. */
    public static int[] parseAddress(String address) {
        String text = address.startsWith("e") ? address.substring(1) : address;
        String[] parts = text.split("\\.");
        try {
            if (parts.length == 2) {
                return new int[] {Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException("'" + address + "' is not an AoE address; write eSHELF.SLOT, e.g. e1.0");
    }

    @Override
    public void close() {
        List<Entry> all;
        synchronized (this) {
            all = List.copyOf(entries);
            entries.clear();
        }
        all.forEach(e -> e.target().close());
    }
}
