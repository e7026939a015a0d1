package fivenines.plugin;

/** A plugin's health: a status and a line of detail. */
public record Health(Status status, String detail) {

    /** Coarse health, as an operator triages it. */
    public enum Status {
        /** Doing its job. */
        OK,
        /** Working, but something needs attention. */
        DEGRADED,
        /** Not doing its job. */
        FAILED
    }

    public static Health ok() {
        return new Health(Status.OK, "");
    }

    public static Health ok(String detail) {
        return new Health(Status.OK, detail);
    }

    public static Health degraded(String detail) {
        return new Health(Status.DEGRADED, detail);
    }

    public static Health failed(String detail) {
        return new Health(Status.FAILED, detail);
    }
}
