//! Reading a contract record's body written with the record's own reader schema: field by field,
//! in the schema's order, with Avro's binary encoding (zig-zag varints, length-prefixed UTF-8,
//! enum and union indexes, arrays in blocks) and nothing generic between the bytes and the record.
//!
//! apache-avro's schema-aware serde reader does the same through serde's visitor protocol,
//! matching every field's name per record and allocating each string twice; on the Kafka path
//! that was ~60 % of a worker's reading (BENCHMARKS.md, "Reorder alerts measured by the stock
//! operator"). What this reads, and what it refuses, is checked against apache-avro's generic
//! reading on any body, mutated and cut short, by the proptests in `avro.rs`, and on arbitrary
//! bodies by the `decode_record` fuzz target.

use std::sync::LazyLock;

use crate::{
    Id, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, PaymentEvent, PaymentKind, ReorderAlert,
    ReorderAlertStatus, ReorderPolicy,
};

/// Why a body does not decode under the record's own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The body ended inside a value.
    #[error("the body ends inside a value")]
    Truncated,
    /// A varint ran past ten bytes.
    #[error("a variable-length integer is longer than ten bytes")]
    IntegerOverflow,
    /// An `int` does not fit in 32 bits.
    #[error("an int is out of the 32-bit range")]
    IntOutOfRange,
    /// A string's length is negative.
    #[error("a negative length")]
    NegativeLength,
    /// A string's bytes are not UTF-8.
    #[error("a string is not UTF-8")]
    NotUtf8,
    /// An enum index or a union branch the schema does not have.
    #[error("an enum index or union branch out of range")]
    NoSuchIndex,
    /// A string or an array longer than apache-avro's allocation limit allows (it refuses them
    /// too, whether or not the body holds them).
    #[error("a string or an array over the allocation limit")]
    OverLimit,
}

/// apache-avro's allocation limit in bytes (512 MiB unless set otherwise first).
fn allocation_limit() -> usize {
    static LIMIT: LazyLock<usize> =
        LazyLock::new(|| apache_avro::util::max_allocation_bytes(apache_avro::util::DEFAULT_MAX_ALLOCATION_BYTES));
    *LIMIT
}

/// The unread rest of a body.
pub struct Body<'a> {
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    pub fn new(body: &'a [u8]) -> Body<'a> {
        Body { rest: body }
    }

    /// How many bytes are left unread.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// An unsigned varint of up to ten bytes (bits past the 64th dropped, as apache-avro does).
    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for (at, byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7F) << (at * 7);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[at + 1..];
                return Ok(value);
            }
        }
        Err(if self.rest.len() >= 10 { Malformed::IntegerOverflow } else { Malformed::Truncated })
    }

    fn long(&mut self) -> Result<i64, Malformed> {
        let zigzag = self.varint()?;
        Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }

    fn int(&mut self) -> Result<i32, Malformed> {
        i32::try_from(self.long()?).map_err(|_| Malformed::IntOutOfRange)
    }

    fn string(&mut self) -> Result<Id, Malformed> {
        let length = usize::try_from(self.long()?).map_err(|_| Malformed::NegativeLength)?;
        if length > allocation_limit() {
            return Err(Malformed::OverLimit);
        }
        if length > self.rest.len() {
            return Err(Malformed::Truncated);
        }
        let (bytes, rest) = self.rest.split_at(length);
        self.rest = rest;
        std::str::from_utf8(bytes).map(Id::from).map_err(|_| Malformed::NotUtf8)
    }

    /// An enum's symbol, by index into `symbols` (the schema's order).
    fn symbol<T: Copy>(&mut self, symbols: &[T]) -> Result<T, Malformed> {
        let index = self.int()?;
        usize::try_from(index).ok().and_then(|index| symbols.get(index).copied()).ok_or(Malformed::NoSuchIndex)
    }

    /// A `["null", T]` union.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T, Malformed>) -> Result<Option<T>, Malformed> {
        match self.long()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(Malformed::NoSuchIndex),
        }
    }

    /// An array, block by block (a negative count is followed by the block's size in bytes).
    /// Refused, as apache-avro refuses it, once the blocks announce more items than its generic
    /// values of them would fit in the allocation limit.
    fn array<T>(&mut self, mut read: impl FnMut(&mut Self) -> Result<T, Malformed>) -> Result<Vec<T>, Malformed> {
        let most = allocation_limit() / size_of::<apache_avro::types::Value>();
        let mut items = Vec::new();
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(items);
            }
            if count < 0 {
                self.long()?;
            }
            if items.len().saturating_add(usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)) > most {
                return Err(Malformed::OverLimit);
            }
            for _ in 0..count.unsigned_abs() {
                items.push(read(self)?);
            }
        }
    }
}

/// A record read from a body written with its own schema.
pub trait ReadOwn: Sized {
    fn read_own(body: &mut Body<'_>) -> Result<Self, Malformed>;
}

impl ReadOwn for InventoryEvent {
    fn read_own(body: &mut Body<'_>) -> Result<Self, Malformed> {
        Ok(InventoryEvent {
            event_id: body.string()?,
            tenant_id: body.string()?,
            warehouse_id: body.string()?,
            sku: body.string()?,
            kind: body.symbol(&InventoryKind::ALL)?,
            quantity: body.long()?,
            occurred_at: body.long()?,
            purchase_order_id: body.nullable(Body::string)?,
        })
    }
}

impl ReadOwn for OrderEvent {
    fn read_own(body: &mut Body<'_>) -> Result<Self, Malformed> {
        Ok(OrderEvent {
            event_id: body.string()?,
            tenant_id: body.string()?,
            order_id: body.string()?,
            buyer_id: body.string()?,
            version: body.int()?,
            status: body.symbol(&OrderStatus::ALL)?,
            lines: body.array(|body| {
                Ok(OrderLine {
                    sku: body.string()?,
                    warehouse_id: body.string()?,
                    quantity: body.long()?,
                    unit_price_minor: body.long()?,
                })
            })?,
            currency: body.string()?,
            occurred_at: body.long()?,
        })
    }
}

impl ReadOwn for PaymentEvent {
    fn read_own(body: &mut Body<'_>) -> Result<Self, Malformed> {
        Ok(PaymentEvent {
            event_id: body.string()?,
            tenant_id: body.string()?,
            payment_id: body.string()?,
            buyer_id: body.string()?,
            order_id: body.nullable(Body::string)?,
            kind: body.symbol(&PaymentKind::ALL)?,
            amount_minor: body.long()?,
            currency: body.string()?,
            occurred_at: body.long()?,
        })
    }
}

impl ReadOwn for ReorderPolicy {
    fn read_own(body: &mut Body<'_>) -> Result<Self, Malformed> {
        Ok(ReorderPolicy {
            tenant_id: body.string()?,
            warehouse_id: body.string()?,
            sku: body.string()?,
            reorder_point: body.long()?,
            reorder_quantity: body.long()?,
            max_level: body.nullable(Body::long)?,
            order_multiple: body.nullable(Body::long)?,
            lead_time_days: body.nullable(Body::int)?,
        })
    }
}

impl ReadOwn for ReorderAlert {
    fn read_own(body: &mut Body<'_>) -> Result<Self, Malformed> {
        Ok(ReorderAlert {
            alert_id: body.string()?,
            tenant_id: body.string()?,
            warehouse_id: body.string()?,
            sku: body.string()?,
            status: body.symbol(&ReorderAlertStatus::ALL)?,
            projected: body.long()?,
            reorder_point: body.long()?,
            suggested_quantity: body.long()?,
            changed_at: body.long()?,
        })
    }
}
