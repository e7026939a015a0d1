package fivenines.block.export;

/** A run of bytes with the same allocation state, as NBD's base:allocation reports it. */
public record Extent(long length, boolean hole, boolean zero) {
    public static final int FLAG_HOLE = 1;
    public static final int FLAG_ZERO = 2;

    public int flags() {
        return (hole ? FLAG_HOLE : 0) | (zero ? FLAG_ZERO : 0);
    }
}
