package fivenines.vm.xen;

/** A Xen domain config that cannot be read; nothing was imported. */
public final class XenConfigException extends Exception {
    private final int line;

    public XenConfigException(int line, String message) {
        super((line > 0 ? "line " + line + ": " : "") + message);
        this.line = line;
    }

    /** The 1-based line of the problem, or 0 when it concerns the config as a whole. */
    public int line() {
        return line;
    }
}
