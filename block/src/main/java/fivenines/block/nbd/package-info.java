/**
 * The NBD protocol, fixed newstyle, both ways.
 *
 * <p>{@link fivenines.block.nbd.NbdServer} serves the exports of an
 * {@link fivenines.block.export.ExportResolver} on TCP, a Unix socket or both, configured by
 * {@link fivenines.block.nbd.NbdServer.Config} (limits, TLS). {@link fivenines.block.nbd.NbdClient}
 * reaches one export of another server (another node's disk), pipelining requests from many
 * threads, each answered within a timeout or failed with an
 * {@link fivenines.block.nbd.NbdErrorException} naming the server and the export.
 * {@link fivenines.block.nbd.ServeFile} serves one file from the command line, for benchmarks.
 * The rest of the package is the server's inside: handshake, transmission, replies.
 */
package fivenines.block.nbd;
