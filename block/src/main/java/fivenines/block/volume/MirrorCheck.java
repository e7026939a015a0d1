package fivenines.block.volume;

import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.model.storage.ChunkSet;
import fivenines.model.storage.Leg;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An online check of a mirrored volume's legs (LVM's {@code --syncaction check}, and {@code repair}):
 * each chunk is read from every in-sync leg while guest writes to it are held off (the chunk's
 * stripe, taken alone) and compared; a repair rewrites a mismatched chunk on the other legs from
 * the chosen one. Snapshots wait for the whole check (the engine's quiesce lock, shared).
 */
final class MirrorCheck {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorCheck.class);
    private static final long CHUNK = fivenines.model.storage.Volumes.CHUNK_SIZE;
    private final MirrorEngine engine;

    MirrorCheck(MirrorEngine engine) {
        this.engine = engine;
    }

    /**
     * Compares the in-sync legs chunk by chunk, online (LVM's {@code --syncaction check}: a chunk is
     * held still against guest writes while it is compared); with {@code repair}, rewrites each
     * mismatched chunk on the other legs from leg {@code from} (null: this node's leg, else the first).
     */
    MirrorEngine.CheckResult run(boolean repair, Integer from) throws IOException {
        engine.requireNotCutOff();
        if (engine.repairPending() > 0) {
            throw new NbdErrorException(NbdProtocol.EPERM, engine.name() + ": " + engine.repairPending() + " MiB a previous"
                + " writer left open are being made alike; check again once that is done");
        }
        Map<Integer, VolumeEngine> legsToCompare = new TreeMap<>();
        engine.legLock.readLock().lock();
        try {
            for (Leg leg : engine.legs.values()) {
                VolumeEngine legEngine = engine.open.get(leg.index());
                if (leg.inSync() && legEngine != null) {
                    legsToCompare.put(leg.index(), legEngine);
                }
            }
        } finally {
            engine.legLock.readLock().unlock();
        }
        int source = from != null ? from : engine.readLeg();
        if (repair && engine.readOnly()) {
            throw new NbdErrorException(NbdProtocol.EPERM, engine.name() + " is a read-only snapshot; it cannot be repaired");
        }
        if (from != null && !legsToCompare.containsKey(from)) {
            throw new NbdErrorException(NbdProtocol.EINVAL, engine.name() + ": leg " + from + " is not in sync here (legs in sync: "
                + legsToCompare.keySet() + ")");
        }
        long chunks = (engine.size() + CHUNK - 1) / CHUNK;
        var mismatched = new ChunkSet();
        var buffers = new TreeMap<Integer, ByteBuffer>();
        legsToCompare.keySet().forEach(i -> buffers.put(i, ByteBuffer.allocateDirect((int) CHUNK)));
        long started = System.nanoTime();
        engine.quiesce.readLock().lock();
        try {
            for (long c = 0; c < chunks && legsToCompare.size() > 1; c++) {
                ReentrantReadWriteLock stripe = engine.lockStripe(c);
                try {
                    long offset = c * CHUNK;
                    int length = (int) Math.min(CHUNK, engine.size() - offset);
                    for (var e : legsToCompare.entrySet()) {
                        ByteBuffer b = buffers.get(e.getKey()).clear().limit(length);
                        e.getValue().read(offset, b);
                        b.flip();
                    }
                    ByteBuffer reference = buffers.get(source);
                    boolean differs = buffers.values().stream().anyMatch(b -> !b.equals(reference));
                    if (differs) {
                        mismatched.add(c, 1);
                        if (repair) {
                            for (var e : legsToCompare.entrySet()) {
                                if (e.getKey() != source) {
                                    e.getValue().write(offset, reference.duplicate(), false);
                                }
                            }
                        }
                    }
                } finally {
                    stripe.writeLock().unlock();
                }
                double seconds = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
                engine.progress = new AttachedVolume.Progress((repair ? "repair" : "check") + " of " + legsToCompare.size() + " legs",
                    (c + 1) * CHUNK, (chunks - c - 1) * CHUNK, (c + 1) * CHUNK / seconds);
            }
            if (repair && !mismatched.isEmpty()) {
                engine.flushAll();
            }
        } finally {
            engine.quiesce.readLock().unlock();
            engine.progress = null;
        }
        if (!mismatched.isEmpty()) {
            LOG.warn("{}: legs {} differ in {} chunks{}", engine.name(), legsToCompare.keySet(), mismatched.size(),
                repair ? "; rewritten from leg " + source : "");
        }
        return new MirrorEngine.CheckResult(chunks, mismatched.spans(), mismatched.size(), repair ? source : null,
            List.copyOf(legsToCompare.keySet()));
    }
}
