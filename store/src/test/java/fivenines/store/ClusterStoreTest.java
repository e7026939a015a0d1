package fivenines.store;

import fivenines.model.command.ChangeConfig;
import fivenines.model.command.CreateCluster;
import fivenines.model.state.Result;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Three in-process replicas on loopback, through real Ratis over gRPC. */
class ClusterStoreTest {
    private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes();
    @TempDir
    Path dir;
    private final List<ClusterStore> open = new ArrayList<>();
    private final UUID group = UUID.randomUUID();

    @AfterEach
    void closeAll() {
        open.forEach(s -> {
            try {
                s.close();
            } catch (RuntimeException ignored) {
                // already closed by the test
            }
        });
    }

    private StoreConfig config(String name, int port, byte[] secret, long snapshotEvery) {
        return new StoreConfig(name, "127.0.0.1", port, dir.resolve(name), secret, snapshotEvery, Duration.ofSeconds(10));
    }

    private ClusterStore start(StoreConfig config, ClusterStore.Start start) {
        ClusterStore store = ClusterStore.start(config, group, start);
        open.add(store);
        return store;
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static void awaitLeader(ClusterStore store) throws InterruptedException {
        for (int i = 0; i < 200 && store.status().leader() == null; i++) {
            Thread.sleep(50);
        }
        assertTrue(store.status().leader() != null, "no leader elected");
    }

    @Test
    void threeReplicasAgreeSurviveLeaderLossAndRecoverFromDisk() throws Exception {
        int[] ports = {freePort(), freePort(), freePort()};
        var configs = List.of(config("n0", ports[0], SECRET, 20), config("n1", ports[1], SECRET, 20),
            config("n2", ports[2], SECRET, 20));
        ClusterStore n0 = start(configs.get(0), ClusterStore.Start.NEW_GROUP);
        awaitLeader(n0);
        assertTrue(n0.submitAndWait(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:1", configs.get(0).raftAddress(), 5)).applied());
        ClusterStore n1 = start(configs.get(1), ClusterStore.Start.JOIN_GROUP);
        ClusterStore n2 = start(configs.get(2), ClusterStore.Start.JOIN_GROUP);
        n0.setMembers(configs.stream().map(c -> new ClusterStore.RaftMember(c.nodeName(), c.raftAddress())).toList(), List.of());
        for (int i = 1; i <= 50; i++) {
            Result r = n0.submitAndWait(ChangeConfig.set("key" + (i % 5), "v" + i));
            assertTrue(r.applied());
        }
        // every replica reaches the same config_version, read linearizably from a follower
        assertEquals(50L, (long) n2.readLinearizable(s -> s.configuration().version()));
        assertEquals(50L, (long) n1.readLinearizable(s -> s.configuration().version()));

        // kill the leader: a new one is elected and keeps every committed change
        String leader = n0.status().leader();
        ClusterStore leaderStore = List.of(n0, n1, n2).stream().filter(s -> s.nodeName().equals(leader)).findFirst().orElseThrow();
        leaderStore.close();
        ClusterStore survivor = leaderStore == n1 ? n2 : n1;
        Result after = survivor.submitAndWait(ChangeConfig.set("after", "failover"));
        assertTrue(after.applied());
        assertEquals(51L, (long) survivor.readLinearizable(s -> s.configuration().version()));

        // restart the killed replica from disk: it catches up
        var restarted = start(configs.stream().filter(c -> c.nodeName().equals(leader)).findFirst().orElseThrow(),
            ClusterStore.Start.RECOVER);
        assertEquals(51L, (long) restarted.readLinearizable(s -> s.configuration().version()));
        assertEquals("failover", restarted.read(s -> s.configuration().get("after").orElseThrow()));
        assertTrue(Files.list(dir.resolve(leader)).findAny().isPresent());
    }

    @Test
    void allReplicasRestartedKeepTheirStateThroughSnapshotsAndPurgedLogs() throws Exception {
        int port = freePort();
        var config = config("solo", port, SECRET, 10);
        ClusterStore store = start(config, ClusterStore.Start.NEW_GROUP);
        awaitLeader(store);
        store.submitAndWait(new CreateCluster("c", "a".repeat(64), "solo", "127.0.0.1:1", config.raftAddress(), 5));
        for (int i = 0; i < 60; i++) {
            store.submitAndWait(new ChangeConfig(Map.of("k" + i, "v"), List.of(), null));
        }
        store.close();
        ClusterStore again = start(config, ClusterStore.Start.RECOVER);
        awaitLeader(again);
        assertEquals(60L, (long) again.readLinearizable(s -> s.configuration().version()));
        assertEquals(60, (int) again.read(s -> s.configuration().values().size()));
        assertTrue(again.submitAndWait(ChangeConfig.set("more", "x")).applied());
    }

    private long snapshotFiles(String node) throws IOException {
        try (var files = Files.walk(dir.resolve(node))) {
            return files.filter(f -> f.getFileName().toString().matches("snapshot\\.\\d+_\\d+")).count();
        }
    }

    /**
     * Ratis pauses the state machine before it writes a snapshot sent by the leader into the state
     * machine's folder, and replaces that folder; a snapshot of our own written meanwhile made either
     * the install or the snapshot fail. While paused, none is written.
     */
    @Test
    void noSnapshotIsWrittenWhileTheStateMachineIsPausedForOneFromTheLeader() throws Exception {
        var config = config("paused", freePort(), SECRET, 1_000_000);
        ClusterStore store = start(config, ClusterStore.Start.NEW_GROUP);
        awaitLeader(store);
        store.submitAndWait(new CreateCluster("c", "a".repeat(64), "paused", "127.0.0.1:1", config.raftAddress(), 5));
        store.submitAndWait(ChangeConfig.set("k", "v"));
        StoreStateMachine machine = store.stateMachine();
        long before = snapshotFiles("paused");
        // the first call begins writing one off the thread that applies entries; once written, a call answers its index
        assertEquals(org.apache.ratis.server.raftlog.RaftLog.INVALID_LOG_INDEX, machine.takeSnapshot());
        awaitSnapshotWritten(machine);
        assertTrue(machine.takeSnapshot() > 0, "a running state machine takes snapshots");
        assertEquals(before + 1, snapshotFiles("paused"));

        store.submitAndWait(ChangeConfig.set("k", "w"));
        machine.pause();
        assertEquals(org.apache.ratis.server.raftlog.RaftLog.INVALID_LOG_INDEX, machine.takeSnapshot());
        assertEquals(before + 1, snapshotFiles("paused"), "no snapshot written while paused");
    }

    private static void awaitSnapshotWritten(StoreStateMachine machine) throws InterruptedException {
        for (int i = 0; i < 400 && machine.writingSnapshot(); i++) {
            Thread.sleep(25);
        }
        assertFalse(machine.writingSnapshot(), "the snapshot was not written within 10 s");
    }

    /** A copy of a replica's folder as a kill -9 would leave it: what it synced, with no snapshot taken at stop. */
    private Path crashImage(String node) throws IOException {
        Path from = dir.resolve(node);
        Path to = dir.resolve(node + "-killed");
        try (var files = Files.walk(from)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().equals("in_use.lock")) {
                    continue;
                }
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
        return to;
    }

    /**
     * A replica killed after a snapshot and more commits loads that snapshot at restart and applies
     * only the log entries after it, not the whole log again.
     */
    @Test
    void aReplicaRestartedAfterAKillReplaysOnlyTheLogAfterItsLastSnapshot() throws Exception {
        var config = config("killed", freePort(), SECRET, 30);
        ClusterStore store = start(config, ClusterStore.Start.NEW_GROUP);
        awaitLeader(store);
        var indexes = new ArrayList<Long>();
        indexes.add(((Result.Applied) store.submitAndWait(new CreateCluster("c", "a".repeat(64), "killed", "127.0.0.1:1",
            config.raftAddress(), 5))).index());
        StoreStateMachine machine = store.stateMachine();
        for (int i = 0; i < 200 && machine.snapshotsWritten().isEmpty(); i++) {
            indexes.add(((Result.Applied) store.submitAndWait(ChangeConfig.set("k" + i, "v" + i))).index());
        }
        assertFalse(machine.snapshotsWritten().isEmpty(), "no snapshot after 200 commits with one every 30 entries");
        for (int i = 0; i < 8; i++) {
            indexes.add(((Result.Applied) store.submitAndWait(ChangeConfig.set("after" + i, "x"))).index());
        }
        awaitSnapshotWritten(machine);
        long snapshot = machine.snapshotsWritten().getLast().index();
        long version = store.read(s -> s.configuration().version());
        Path image = crashImage("killed");
        store.close();
        open.remove(store);

        ClusterStore again = start(new StoreConfig("killed", "127.0.0.1", config.raftPort(), image, SECRET, 30,
            Duration.ofSeconds(10)), ClusterStore.Start.RECOVER);
        awaitLeader(again);
        assertEquals(version, (long) again.readLinearizable(s -> s.configuration().version()));
        StartReplay replay = again.startReplay();
        long after = indexes.stream().filter(i -> i > snapshot).count();
        assertEquals(snapshot, replay.snapshotIndex(), "the replica did not load its last snapshot");
        assertTrue(after > 0 && after < indexes.size(), "commands on both sides of the snapshot: " + after + " of " + indexes.size());
        assertEquals(after, replay.applied(), "entries applied at restart: only the " + after + " after the snapshot at " + snapshot);
        assertTrue(replay.firstApplied() > snapshot, "first entry applied at restart " + replay.firstApplied());
    }

    /**
     * A snapshot is written off the thread that applies entries: while its file cannot be written
     * (a slow disk, held here), commands still commit and apply, and the snapshot lands afterwards.
     * When it was written on that thread, every command waited for the file.
     */
    @Test
    void commandsKeepApplyingWhileASnapshotIsBeingWritten() throws Exception {
        var config = config("slowdisk", freePort(), SECRET, 20);
        ClusterStore store = start(config, ClusterStore.Start.NEW_GROUP);
        awaitLeader(store);
        store.submitAndWait(new CreateCluster("c", "a".repeat(64), "slowdisk", "127.0.0.1:1", config.raftAddress(), 5));
        StoreStateMachine machine = store.stateMachine();
        var held = new java.util.concurrent.CountDownLatch(1);
        var release = new java.util.concurrent.CountDownLatch(1);
        machine.beforeSnapshotFile = () -> {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        try {
            int i = 0;
            while (held.getCount() > 0 && i < 200) {
                store.submit(ChangeConfig.set("k" + i, "v" + i)).get(10, java.util.concurrent.TimeUnit.SECONDS);
                i++;
            }
            assertEquals(0, held.getCount(), "no snapshot begun after 200 commits with one every 20 entries");
            long before = store.appliedIndex();
            // the snapshot's file is held: commands still commit and apply meanwhile
            for (int j = 0; j < 50; j++) {
                Result r = store.submit(ChangeConfig.set("during" + j, "x")).get(10, java.util.concurrent.TimeUnit.SECONDS);
                assertTrue(r.applied(), r.toString());
            }
            assertTrue(store.appliedIndex() > before);
            assertTrue(machine.writingSnapshot(), "the snapshot is still being written");
        } finally {
            release.countDown();
        }
        awaitSnapshotWritten(machine);
        assertFalse(machine.snapshotsWritten().isEmpty());
        assertTrue(snapshotFiles("slowdisk") >= 1);
        assertEquals("x", store.read(s -> s.configuration().get("during49").orElseThrow()));
    }

    /**
     * Closing a replica while a command is still pending on one of its clients: the client's close
     * fails that command, whose callback reports the failure to the client; that callback waited
     * for the monitor the close held while it waited for the callback, and the close never returned
     * (an agent's 'cluster leave' hung so).
     */
    @Test
    void aReplicaClosesWhileACommandIsPendingOnItsClient() throws Exception {
        var configs = List.of(config("q0", freePort(), SECRET, 1000), config("q1", freePort(), SECRET, 1000));
        ClusterStore q0 = start(configs.get(0), ClusterStore.Start.NEW_GROUP);
        awaitLeader(q0);
        q0.submitAndWait(new CreateCluster("c", "a".repeat(64), "q0", "127.0.0.1:1", configs.get(0).raftAddress(), 5));
        ClusterStore q1 = start(configs.get(1), ClusterStore.Start.JOIN_GROUP);
        q0.setMembers(configs.stream().map(c -> new ClusterStore.RaftMember(c.nodeName(), c.raftAddress())).toList(), List.of());
        assertTrue(q0.submitAndWait(ChangeConfig.set("two", "x")).applied());
        q1.close();
        open.remove(q1);
        // no quorum: the command stays pending on q0's client, which retries it
        var pending = q0.submit(ChangeConfig.set("pending", "x"));
        Thread.sleep(1000);
        assertFalse(pending.isDone());
        open.remove(q0); // closed here: a close that hangs must not hang the test's clean-up too
        var closing = Thread.ofPlatform().daemon().start(q0::close);
        closing.join(Duration.ofSeconds(30));
        assertFalse(closing.isAlive(), "closing the replica did not return while a command was pending");
        // the command's failure is delivered on the client's threads, possibly just after the close returned
        try {
            pending.get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException expected) {
            // failed, as it must without a quorum; a timeout is caught by the assertion below
        }
        assertTrue(pending.isDone(), "the command pending at the close ended");
    }

    @Test
    void aReplicaAddedAfterTheLogWasPurgedLoadsTheLeadersSnapshotAndFollows() throws Exception {
        var first = config("s0", freePort(), SECRET, 5);
        var second = config("s1", freePort(), SECRET, 5);
        ClusterStore leader = start(first, ClusterStore.Start.NEW_GROUP);
        awaitLeader(leader);
        leader.submitAndWait(new CreateCluster("c", "a".repeat(64), "s0", "127.0.0.1:1", first.raftAddress(), 5));
        for (int i = 0; i < 20; i++) {
            leader.submitAndWait(ChangeConfig.set("k" + i, "v" + i));
        }
        // a restart closes the log segment that the snapshot taken at stop then purges: the leader's log
        // starts after that snapshot, so a new replica can only be sent the snapshot
        leader.close();
        open.remove(leader);
        leader = start(first, ClusterStore.Start.RECOVER);
        awaitLeader(leader);
        ClusterStore joiner = start(second, ClusterStore.Start.JOIN_GROUP);
        leader.setMembers(List.of(new ClusterStore.RaftMember("s0", first.raftAddress()),
            new ClusterStore.RaftMember("s1", second.raftAddress())), List.of());
        assertTrue(leader.submitAndWait(ChangeConfig.set("after", "join")).applied());
        assertEquals(21L, (long) joiner.readLinearizable(s -> s.configuration().version()));
        assertEquals("v3", joiner.read(s -> s.configuration().get("k3").orElseThrow()));
        // the joiner keeps applying what follows, and the pair still commits (the joiner's vote counts)
        for (int i = 0; i < 10; i++) {
            assertTrue(joiner.submitAndWait(ChangeConfig.set("j" + i, "x")).applied());
        }
        assertEquals(31L, (long) leader.readLinearizable(s -> s.configuration().version()));
        var peers = leader.status().peers();
        assertEquals(1, peers.size(), peers.toString());
        assertTrue(peers.getFirst().matchIndex() >= leader.appliedIndex() - 1, peers.toString());
    }

    @Test
    void aListenerIsPromotedToVoterWhenAVoterLeaves() throws Exception {
        var configs = List.of(config("m0", freePort(), SECRET, 1000), config("m1", freePort(), SECRET, 1000),
            config("m2", freePort(), SECRET, 1000), config("m3", freePort(), SECRET, 1000));
        ClusterStore m0 = start(configs.get(0), ClusterStore.Start.NEW_GROUP);
        awaitLeader(m0);
        m0.submitAndWait(new CreateCluster("c", "a".repeat(64), "m0", "127.0.0.1:1", configs.get(0).raftAddress(), 3));
        for (int i = 1; i < 4; i++) {
            start(configs.get(i), ClusterStore.Start.JOIN_GROUP);
        }
        var members = configs.stream().map(c -> new ClusterStore.RaftMember(c.nodeName(), c.raftAddress())).toList();
        m0.setMembers(members.subList(0, 3), members.subList(3, 4));
        assertTrue(m0.submitAndWait(ChangeConfig.set("listening", "x")).applied());
        assertEquals(List.of("m3"), m0.status().listeners(), m0.status().toString());
        // m1 leaves: m3 takes its vote (one change in Ratis would be refused: "Found duplicated element m3")
        m0.setMembers(List.of(members.get(0), members.get(2), members.get(3)), List.of());
        assertEquals(List.of(), m0.status().listeners(), m0.status().toString());
        assertEquals(List.of("m0", "m2", "m3"), m0.status().voters().stream().sorted().toList(), m0.status().toString());
        assertTrue(m0.submitAndWait(ChangeConfig.set("promoted", "x")).applied());
    }

    @Test
    void theClientFollowsThePeersAfterARemovalAndAPeerThatWasDownAndCameBack() throws Exception {
        var configs = List.of(config("p0", freePort(), SECRET, 1000), config("p1", freePort(), SECRET, 1000),
            config("p2", freePort(), SECRET, 1000));
        ClusterStore p0 = start(configs.get(0), ClusterStore.Start.NEW_GROUP);
        awaitLeader(p0);
        p0.submitAndWait(new CreateCluster("c", "a".repeat(64), "p0", "127.0.0.1:1", configs.get(0).raftAddress(), 5));
        ClusterStore p1 = start(configs.get(1), ClusterStore.Start.JOIN_GROUP);
        ClusterStore p2 = start(configs.get(2), ClusterStore.Start.JOIN_GROUP);
        var members = configs.stream().map(c -> new ClusterStore.RaftMember(c.nodeName(), c.raftAddress())).toList();
        p0.setMembers(members, List.of());
        assertTrue(p0.submitAndWait(ChangeConfig.set("three", "x")).applied());
        // p2 goes; the group is p0 and p1
        p2.close();
        p0.setMembers(members.subList(0, 2), List.of());
        assertTrue(p0.submitAndWait(ChangeConfig.set("two", "x")).applied());
        // p1 stops: nothing commits, and p0's client meets the refused connections
        p1.close();
        open.remove(p1);
        assertThrows(StoreException.class, () -> p0.submitAndWait(ChangeConfig.set("down", "x")));
        assertTrue(p0.failing());
        Thread.sleep(10_000); // long enough for gRPC to back off reconnecting to p1
        assertThrows(StoreException.class, () -> p0.submitAndWait(ChangeConfig.set("still-down", "x")));
        long clientsBefore = p0.clientsBuilt();
        long throughClientsBefore = p0.requestsThroughClients();
        ClusterStore back = start(configs.get(1), ClusterStore.Start.RECOVER);
        // the servers' own channels back off reconnecting too: the election may take a while
        for (int i = 0; i < 600 && (back.status().leader() == null || p0.status().leader() == null); i++) {
            Thread.sleep(50);
        }
        assertTrue(p0.status().leader() != null, "no leader elected after p1 came back");
        // writes on p0 work again within seconds (before, they failed with 'Connection refused' for minutes)
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        boolean committed = false;
        StoreException last = null;
        while (!committed && System.nanoTime() < deadline) {
            try {
                committed = p0.submitAndWait(ChangeConfig.set("back", "x")).applied();
            } catch (StoreException e) {
                last = e;
                Thread.sleep(500);
            }
        }
        assertTrue(committed, "p0 could not commit after p1 came back: " + last);
        for (int i = 0; i < 5; i++) {
            assertTrue(p0.submitAndWait(ChangeConfig.set("after" + i, "x")).applied());
        }
        assertFalse(p0.failing());
        // when p0 leads again it commits through its own server and needs no client; when p1 leads, p0's
        // commands went through a client, and that must be a new one
        assertTrue(p0.requestsThroughClients() == throughClientsBefore || p0.clientsBuilt() > clientsBefore,
            "the failed client was not replaced");
        assertEquals("x", back.readLinearizable(s -> s.configuration().get("after4").orElseThrow()));
    }

    @Test
    void aSnapshotLeftWithoutItsDigestByAKilledProcessStillLoads() throws Exception {
        var config = config("crash", freePort(), SECRET, 5);
        ClusterStore store = start(config, ClusterStore.Start.NEW_GROUP);
        awaitLeader(store);
        store.submitAndWait(new CreateCluster("c", "a".repeat(64), "crash", "127.0.0.1:1", config.raftAddress(), 5));
        for (int i = 0; i < 12; i++) {
            store.submitAndWait(ChangeConfig.set("k" + i, "v"));
        }
        store.close();
        open.remove(store);
        // as a kill between writing the newest snapshot and its digest left it (before, the store failed to start)
        try (var files = Files.walk(config.dataDir())) {
            var newest = files.filter(f -> f.getFileName().toString().matches("snapshot\\.\\d+_\\d+"))
                .max(java.util.Comparator.comparing(f -> Long.parseLong(f.getFileName().toString().replaceAll(".*_", ""))))
                .orElseThrow();
            Files.delete(newest.resolveSibling(newest.getFileName() + ".md5"));
        }
        ClusterStore again = start(config, ClusterStore.Start.RECOVER);
        awaitLeader(again);
        assertEquals(12L, (long) again.readLinearizable(s -> s.configuration().version()));
    }

    @Test
    void aClientWithTheWrongSecretChangesNothing() throws Exception {
        int port = freePort();
        ClusterStore store = start(config("a", port, SECRET, 1000), ClusterStore.Start.NEW_GROUP);
        awaitLeader(store);
        store.submitAndWait(new CreateCluster("c", "a".repeat(64), "a", "127.0.0.1:1", "127.0.0.1:" + port, 5));
        // a second replica object with another secret, sharing nothing but the network
        var intruderConfig = new StoreConfig("intruder", "127.0.0.1", freePort(), dir.resolve("intruder"),
            "ffffffffffffffffffffffffffffffff".getBytes(), 1000, Duration.ofSeconds(5));
        ClusterStore intruder = start(intruderConfig, ClusterStore.Start.JOIN_GROUP);
        var error = assertThrows(StoreException.class, () -> intruder.submitAndWait(ChangeConfig.set("x", "y")));
        assertFalse(error.mayHaveHappened(), error.getMessage());
        assertEquals(0L, (long) store.readLinearizable(s -> s.configuration().version()));
    }

    /** A new three-replica group named PREFIX0..2, the cluster created through the first, all members. */
    private List<ClusterStore> threeReplicas(String prefix) throws Exception {
        var configs = List.of(config(prefix + "0", freePort(), SECRET, 1000), config(prefix + "1", freePort(), SECRET, 1000),
            config(prefix + "2", freePort(), SECRET, 1000));
        ClusterStore first = start(configs.get(0), ClusterStore.Start.NEW_GROUP);
        awaitLeader(first);
        first.submitAndWait(new CreateCluster("c", "a".repeat(64), prefix + "0", "127.0.0.1:1", configs.get(0).raftAddress(), 5));
        ClusterStore second = start(configs.get(1), ClusterStore.Start.JOIN_GROUP);
        ClusterStore third = start(configs.get(2), ClusterStore.Start.JOIN_GROUP);
        first.setMembers(configs.stream().map(c -> new ClusterStore.RaftMember(c.nodeName(), c.raftAddress())).toList(), List.of());
        return List.of(first, second, third);
    }

    @Test
    void theLeaderCommitsAndReadsThroughItsOwnServerWhileFollowersUseClientsAndConcurrentCommandsAllApply() throws Exception {
        var replicas = threeReplicas("l");
        ClusterStore l0 = replicas.get(0), l1 = replicas.get(1), l2 = replicas.get(2);
        assertTrue(l0.isLeader());
        long leaderThroughClients = l0.requestsThroughClients();
        var submitted = new ArrayList<java.util.concurrent.CompletableFuture<Result>>();
        for (int i = 0; i < 60; i++) {
            ClusterStore via = List.of(l0, l1, l2).get(i % 3);
            submitted.add(via.submit(ChangeConfig.set("k" + (i % 7), "v" + i)));
        }
        var versions = new java.util.TreeSet<Long>();
        for (var future : submitted) {
            Result result = future.get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue(result.applied(), result.toString());
            versions.add((Long) ((Result.Applied) result).value());
        }
        assertEquals(60, versions.size(), "every concurrent change got its own config_version");
        assertEquals(60L, (long) l0.readLinearizable(s -> s.configuration().version()));
        assertEquals(60L, (long) l2.readLinearizable(s -> s.configuration().version()));
        if (ClusterStore.DIRECT_WRITES) { // off by default: see ClusterStore.DIRECT_WRITES
            assertEquals(leaderThroughClients, l0.requestsThroughClients(), "the leader sent requests to itself through a Ratis client");
        }
        assertTrue(l1.requestsThroughClients() >= 1 && l2.requestsThroughClients() >= 1, "followers reach the leader through clients");
        long entries = 0;
        for (ClusterStore store : List.of(l0, l1, l2)) {
            assertEquals(20, store.batchCounts()[1], "each replica sent its 20 commands");
            entries += store.batchCounts()[0];
        }
        if (ClusterStore.BATCHING) {
            assertTrue(entries < 60, "60 concurrent commands shared entries: " + entries + " entries");
        }
    }

    @Test
    void batchedLockCommandsGrantEachLockWithATokenOfItsOwnThatOnlyGrows() throws Exception {
        var replicas = threeReplicas("t");
        ClusterStore t0 = replicas.get(0), t1 = replicas.get(1), t2 = replicas.get(2);
        var stores = List.of(t0, t1, t2);
        // eight owners on two locks, each acquiring and releasing as fast as its answers come
        var grants = new java.util.concurrent.ConcurrentHashMap<String, java.util.concurrent.ConcurrentLinkedQueue<Long>>();
        var threads = new ArrayList<Thread>();
        var failures = new java.util.concurrent.ConcurrentLinkedQueue<String>();
        for (int o = 0; o < 8; o++) {
            String owner = "o" + o;
            String lock = "L" + (o % 2);
            ClusterStore via = stores.get(o % 3);
            threads.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 15; i++) {
                    Result acquired = via.submitAndWait(new fivenines.model.command.AcquireLock(lock,
                        fivenines.model.lock.LockMode.EX, "t0", owner, false));
                    if (acquired instanceof Result.Applied a) {
                        var outcome = (fivenines.model.lock.LockOutcome) a.value();
                        long token = outcome.lock().holder("t0", owner).orElseThrow().token();
                        grants.computeIfAbsent(lock, l -> new java.util.concurrent.ConcurrentLinkedQueue<>()).add(token);
                        Result released = via.submitAndWait(new fivenines.model.command.ReleaseLock(lock, "t0", owner));
                        if (!released.applied()) {
                            failures.add(owner + " could not release: " + released);
                        }
                    }
                }
            }));
        }
        for (Thread thread : threads) {
            thread.join(60_000);
        }
        assertTrue(failures.isEmpty(), failures.toString());
        for (var entry : grants.entrySet()) {
            var tokens = new ArrayList<>(entry.getValue());
            assertEquals(tokens.size(), new java.util.HashSet<>(tokens).size(), "two grants of " + entry.getKey() + " shared a token: " + tokens);
        }
        assertTrue(grants.values().stream().mapToInt(java.util.Collection::size).sum() > 0, "some acquires were granted");
    }
}
