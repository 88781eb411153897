"""The API's own string formats for schemathesis (`api/tests/openapi_fuzz.rs`): its page cursors.

A cursor is the hex of the JSON sort key of a page's last item (`api/src/routes/page.rs`), so a
valid one is any key of the right shape, encoded so. The OpenAPI document names each route's
shape as the cursor's format; these strategies generate cursors of that shape.
"""

import json

import schemathesis
from hypothesis import strategies as st

I64 = st.integers(-(2**63), 2**63 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)
U64 = st.integers(0, 2**64 - 1)
# Ids as the contract has them: no control characters.
TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=64)


def cursor(key):
    return key.map(lambda key: json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode().hex())


# (warehouse_id, sku)
schemathesis.openapi.format("stock-cursor", cursor(st.tuples(TEXT, TEXT).map(list)))
# (resolved, projected - reorder_point, resolved_at, alert_id)
schemathesis.openapi.format("alert-cursor", cursor(st.tuples(st.booleans(), I64, st.none() | U64, TEXT).map(list)))
# (applied_at, partition, offset, topic)
schemathesis.openapi.format("history-cursor", cursor(st.tuples(I64, I32, I64, TEXT).map(list)))
# seq
schemathesis.openapi.format("audit-cursor", cursor(I64))
