/**
 * What the block service serves: {@link fivenines.block.export.BlockExport} is the one interface
 * an export implements (a physical volume through {@link fivenines.block.export.FileExport}, later
 * a logical volume through the volume engine), and {@link fivenines.block.export.ExportResolver}
 * is how a server finds exports by name at every handshake;
 * {@link fivenines.block.export.ExportRegistry} is the mutable one to add and remove them at run time.
 *
 * <p>An export fails a single request with a particular NBD error by throwing
 * {@link fivenines.block.nbd.NbdErrorException}: ENOSPC when a thin pool is full, EPERM or
 * ESHUTDOWN when the writer's epoch is outdated. Any other exception reaches the client as EIO.
 */
package fivenines.block.export;
