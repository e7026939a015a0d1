package fivenines.block.export;

import java.util.List;

/**
 * Where an NBD server finds its exports. Asked at every handshake, so exports can come and go
 * while the server runs; a connection keeps the export it negotiated until it ends.
 */
public interface ExportResolver {

    /** The export with this name, or null when there is none. */
    BlockExport resolve(String name);

    /** Names offered to clients that ask for the list (NBD_OPT_LIST). */
    List<String> names();
}
