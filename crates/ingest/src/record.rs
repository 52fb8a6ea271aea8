//! A Kafka record as pipelab holds it: owned, with null kept apart from empty.

use rdkafka::message::{Headers, Message};

/// One Kafka record, as read: everything needed to store it or to re-produce it
/// byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Its timestamp, in milliseconds since the epoch, when it has one.
    pub timestamp_ms: Option<i64>,
    /// `None` is a null key, distinct from an empty one.
    pub key: Option<Vec<u8>>,
    /// Header names and values in record order; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// `None` is a null payload (a tombstone), distinct from an empty one.
    pub payload: Option<Vec<u8>>,
}

impl RawRecord {
    /// A record with a payload and nothing else (tests, generators).
    pub fn new(partition: i32, offset: i64, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            partition,
            offset,
            timestamp_ms: None,
            key: None,
            headers: Vec::new(),
            payload: Some(payload.into()),
        }
    }

    /// Bytes this record holds in memory (payload, key and headers).
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        self.payload.as_ref().map_or(0, Vec::len) + self.key.as_ref().map_or(0, Vec::len) + headers
    }

    /// Bytes this record takes in memory, the struct itself and its header entries
    /// included: what the memory budget counts (for 200-byte events the struct alone
    /// is another half).
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.headers.len() * std::mem::size_of::<(String, Option<Vec<u8>>)>()
            + self.size()
    }
}

/// A record as read, owned.
pub(crate) fn raw_record(m: &impl Message) -> RawRecord {
    RawRecord {
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key().map(<[u8]>::to_vec),
        headers: m.headers().map_or_else(Vec::new, |hs| {
            hs.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        }),
        payload: m.payload().map(<[u8]>::to_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_are_told_apart_in_size() {
        let mut r = RawRecord::new(0, 0, Vec::new());
        assert_eq!(r.size(), 0);
        r.payload = None;
        r.key = Some(b"k".to_vec());
        r.headers = vec![("h".into(), None)];
        assert_eq!(r.size(), 2);
    }
}
