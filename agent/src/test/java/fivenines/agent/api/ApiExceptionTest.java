package fivenines.agent.api;

import fivenines.model.state.Rejection;
import fivenines.model.state.Result;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ApiExceptionTest {

    @Test
    void aCommandRefusedBecauseItsNodeIsDownIsUnavailableNotAConflictAndDidNotHappen() {
        // 409 tells a lock client "someone holds it"; a node declared down may ask for a free lock
        var refused = assertThrows(ApiException.class, () -> ApiException.valueOf(
            new Result.Rejected(7, Rejection.Reason.NODE_DOWN, "node 'node0' is declared down and cannot take locks")));
        assertEquals(503, refused.status());
        assertFalse(refused.mayHaveHappened());
    }
}
