package fivenines.model.cman;

/** Why a cluster.conf section is not imported, and what takes its place, for the report. */
final class SectionHints {
    private SectionHints() {
    }

    static String of(String element) {
        return switch (element) {
            case "rm" -> "rgmanager's services, resources and failover domains have no counterpart; "
                + "define VMs with 'nines vm' and the manager places and restarts them";
            case "totem" -> "membership timing comes from the Raft store (elections after 1-2 s of silence)";
            case "quorumd" -> "quorum is the Raft store's majority; a witness node takes the place of a quorum disk";
            case "fence_daemon" -> "fenced's delays have no counterpart; the manager fences a node once its lease has ended";
            case "fence_xvmd" -> "fencing of guests by their host has no counterpart";
            case "logging" -> "logging is set per agent (NINES_LOG_LEVEL)";
            case "dlm", "gfs_controld", "group" -> "the lock manager is part of the Raft store and has no settings here";
            case "unfence" -> "unfencing has no counterpart; fenced nodes rejoin with 'nines cluster join'";
            case "altname" -> "a node has one address in fivenines";
            default -> "no counterpart in fivenines";
        };
    }
}
