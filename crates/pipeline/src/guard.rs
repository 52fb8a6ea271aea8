//! The commit guard's decision for one partition of a micro-batch: rows are stored only
//! where the batch continues exactly from the offset the table's `txn` action holds for
//! that partition, so a rebalance, a restart or a racing member never stores a record
//! twice or skips one.

use pipelab_ingest::Position;

/// What to do with one partition's records before the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The records continue where the table stands: store them.
    Store,
    /// The table already holds the records before this offset (another member or an
    /// earlier attempt committed them): drop those, store the rest.
    DropBefore(i64),
    /// The records do not continue where the table stands: drop them and read the
    /// partition again from this position.
    Reread(Position),
}

/// `stored`: the table's next offset for the partition (`None`: it holds none);
/// `start`: where the batch's records of the partition begin; `reset`: the stored offset
/// `on_offset_out_of_range` moved the reader away from on purpose (it was no longer in
/// the log), if it did.
pub(crate) fn guard(stored: Option<i64>, start: Position, reset: Option<i64>) -> Guard {
    if stored.is_some() && reset == stored {
        return Guard::Store;
    }
    match (stored, start) {
        (None, Position::Beginning) => Guard::Store,
        (Some(next), Position::Offset(s)) if s == next => Guard::Store,
        (Some(next), Position::Beginning) => Guard::DropBefore(next),
        (Some(next), Position::Offset(s)) if s < next => Guard::DropBefore(next),
        (Some(next), Position::Offset(_)) => Guard::Reread(Position::Offset(next)),
        (None, Position::Offset(_)) => Guard::Reread(Position::Beginning),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_that_continues_where_the_table_stands_is_stored() {
        assert_eq!(guard(None, Position::Beginning, None), Guard::Store);
        assert_eq!(guard(Some(40), Position::Offset(40), None), Guard::Store);
    }

    #[test]
    fn records_the_table_already_holds_are_dropped() {
        // Another member committed 0..40 while this one read from 30.
        assert_eq!(
            guard(Some(40), Position::Offset(30), None),
            Guard::DropBefore(40)
        );
        // A reader that started at the log's beginning, on a table that holds offsets.
        assert_eq!(
            guard(Some(40), Position::Beginning, None),
            Guard::DropBefore(40)
        );
    }

    #[test]
    fn a_gap_is_never_stored_the_partition_is_read_again() {
        // The batch starts past where the table stands: records 40..50 would be lost.
        assert_eq!(
            guard(Some(40), Position::Offset(50), None),
            Guard::Reread(Position::Offset(40))
        );
        // The table holds nothing of the partition, but the batch starts at an offset.
        assert_eq!(
            guard(None, Position::Offset(7), None),
            Guard::Reread(Position::Beginning)
        );
    }

    #[test]
    fn a_reset_on_purpose_is_stored_where_it_moved() {
        // The log no longer holds offset 40, where the table stands, and
        // on_offset_out_of_range = "earliest" moved the reader on to 90: the gap is the
        // user's choice, so the records are stored, not re-read again and again.
        assert_eq!(
            guard(Some(40), Position::Offset(90), Some(40)),
            Guard::Store
        );
        // A reset away from another offset does not excuse this gap.
        assert_eq!(
            guard(Some(40), Position::Offset(90), Some(12)),
            Guard::Reread(Position::Offset(40))
        );
    }
}
