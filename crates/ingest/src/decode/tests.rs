//! The decoder's tests: both paths give the same rows and dead letters, types hold
//! across batches and restarts, widening, and the name rules.

use super::*;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};

fn rec(offset: i64, s: &str) -> RawRecord {
    RawRecord::new(0, offset, s.as_bytes())
}

fn decode(d: &mut JsonDecoder, lines: &[&str]) -> Decoded {
    let records: Vec<RawRecord> = lines
        .iter()
        .enumerate()
        .map(|(i, s)| rec(i as i64, s))
        .collect();
    d.decode("t", &records).unwrap()
}

/// Records of every kind the decoder meets, for a schema {id: int, price: double,
/// name: string, ok: bool, tags: [string], n: {a: int}}.
const MIXED: &[&str] = &[
    r#"{"id":1,"price":2.5,"name":"a","ok":true,"tags":["x"],"n":{"a":1}}"#,
    r#"{"id":2,"price":3,"name":"b\"q","ok":false,"tags":[],"n":null}"#,
    r#"{"id":3.5}"#,
    r#"{"price":"4.7"}"#,
    r#"{"name":{"x":1}}"#,
    r#"{"tags":[1]}"#,
    r#"{"n":{"a":"s"}}"#,
    r#"{"id":9007199254740993,"price":9007199254740993}"#,
    r#"{"id":18446744073709551615}"#,
    r#"{"id":4,"nothing":null,"n":{"zero":null}}"#,
    r#"{"id":5} {"id":6}"#,
    r#"[1,2]"#,
    r#"null"#,
    r#"{"id":"#,
    r#"{"\u0069d":7}"#,
    r#"{"id":8,"id":"x"}"#,
    "",
    // The name rules: a repeated key, a name that differs only by case from a column
    // (top-level, nested, in a list), nulls that count as absent.
    r#"{"id":10,"id":10}"#,
    r#"{"x":null,"x":null}"#,
    r#"{"ID":11}"#,
    r#"{"n":{"A":12}}"#,
    r#"{"ID":null,"id":13,"n":{"A":null}}"#,
    r#"{"id":14,"n":{"a":1,"a":2}}"#,
];

fn typed() -> JsonDecoder {
    let mut d = JsonDecoder::new();
    let first = decode(
        &mut d,
        &[r#"{"id":0,"price":1.5,"name":"z","ok":true,"tags":["t"],"n":{"a":0}}"#],
    );
    assert!(first.dead_letters.is_empty());
    d
}

/// The fast path (bytes checked and decoded without a tree) stores the same rows
/// and refuses the same records, with the same errors, as the path that parses
/// each record into a tree.
#[test]
fn the_fast_path_decodes_and_refuses_exactly_as_the_tree_path() {
    assert_eq!(fast_equals_tree(typed, MIXED), [0, 1, 9, 14, 21]);
}

/// Decode `lines` on the fast path and on the tree path with decoders from `typed`,
/// check both give the same rows, batch and dead letters; the rows stored.
fn fast_equals_tree(typed: impl Fn() -> JsonDecoder, lines: &[&str]) -> Vec<usize> {
    let records: Vec<RawRecord> = lines
        .iter()
        .enumerate()
        .map(|(i, s)| rec(i as i64, s))
        .collect();
    let mut fast = typed()
        .decode_known("t", &records, Misfit::DeadLetter)
        .unwrap()
        .unwrap();
    let mut tree = typed().decode_trees("t", &records).unwrap();
    for letters in [&mut fast.dead_letters, &mut tree.dead_letters] {
        letters.sort_by_key(|d| d.record.offset);
    }
    assert_eq!(fast.rows, tree.rows);
    assert_eq!(fast.batch, tree.batch);
    assert_eq!(fast.dead_letters, tree.dead_letters);
    fast.rows
}

/// Records of every kind for a flat schema {id: int, price: double, name: string,
/// ok: bool}, which the one-pass decoder handles.
const FLAT: &[&str] = &[
    r#"{"id":1,"price":2.5,"name":"a","ok":true}"#,
    r#"{"ok":false,"name":"b\"q\u00e9","price":3,"id":2}"#,
    r#"{"id":3.5}"#,
    r#"{"price":"4.7"}"#,
    r#"{"name":{"x":1}}"#,
    r#"{"name":[1]}"#,
    r#"{"ok":1}"#,
    r#"{"name":true}"#,
    r#"{"id":9007199254740993,"price":9007199254740993}"#,
    r#"{"price":-9007199254740992}"#,
    r#"{"id":18446744073709551615}"#,
    r#"{"id":-9223372036854775808,"price":1e308}"#,
    r#"{"price":1e400}"#,
    r#"{"id":4,"nothing":null}"#,
    r#"{"id":5} {"id":6}"#,
    r#"[1,2]"#,
    r#"null"#,
    r#"{"id":"#,
    r#"{"\u0069d":7}"#,
    r#"{"id":8,"id":"x"}"#,
    "",
    "{}",
    r#"{"id":null,"name":null,"ok":null,"price":null}"#,
    "  {\"id\":9}\n",
    r#"{"id":10,"id":10}"#,
    r#"{"x":null,"x":null}"#,
    r#"{"ID":11}"#,
    r#"{"Name":"c","id":12}"#,
    r#"{"ID":null,"id":13}"#,
];

#[test]
fn the_one_pass_decoder_decodes_and_refuses_exactly_as_the_tree_path() {
    let typed = || {
        let mut d = JsonDecoder::new();
        decode(&mut d, &[r#"{"id":0,"price":1.5,"name":"z","ok":true}"#]);
        assert!(matches!(
            d.appender(&d.schema(), 1).unwrap(),
            Appender::Flat(_)
        ));
        d
    };
    assert_eq!(
        fast_equals_tree(typed, FLAT),
        [0, 1, 9, 11, 13, 18, 21, 22, 23, 28]
    );
}

/// The generator's clickstream events are flat: they take the one-pass decoder.
#[test]
fn clickstream_events_take_the_one_pass_decoder() {
    use crate::generate::{Clickstream, ClickstreamConfig};
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let records: Vec<RawRecord> = Clickstream::new(ClickstreamConfig::new(2000, today))
        .enumerate()
        .map(|(i, e)| RawRecord::new(0, i as i64, serde_json::to_vec(&e).unwrap()))
        .collect();
    let mut d = JsonDecoder::new();
    let first = d.decode("t", &records[..1000]).unwrap();
    assert_eq!(first.rows.len(), 1000);
    assert!(
        matches!(d.appender(&d.schema(), 1).unwrap(), Appender::Flat(_)),
        "{:?}",
        d.schema()
    );
    let fast = d
        .decode_known("t", &records[1000..], Misfit::DeadLetter)
        .unwrap()
        .unwrap();
    assert_eq!(fast.rows.len(), 1000, "{:?}", fast.dead_letters);
}

/// A first batch typed from its first records gives what typing it from every
/// record gives, whatever the later records bring; the sample is kept only when
/// every record fits it.
#[test]
fn a_first_batch_typed_from_a_sample_decodes_as_one_typed_from_every_record() {
    let uniform = |i: usize| format!(r#"{{"id":{i},"price":1.5,"n":{{"a":1}},"tags":["x"]}}"#);
    let late: &[(&str, bool)] = &[
        (r#"{"id":1,"price":2}"#, true),
        (
            r#"{"id":null,"price":null,"n":null,"tags":[],"none":null}"#,
            true,
        ),
        ("not json", true),
        ("[1]", true),
        ("", true),
        (r#"{"id":1.5}"#, false),
        (r#"{"id":"7"}"#, false),
        (r#"{"extra":true}"#, false),
        (r#"{"n":{"a":2,"b":3}}"#, false),
        (r#"{"tags":[1]}"#, false),
        (r#"{"id":18446744073709551615}"#, false),
        (r#"{"ID":1}"#, true),
        (r#"{"id":1,"id":2}"#, true),
        (r#"{"Late":1,"late":2}"#, false),
        (r#"{"ID":1,"late":2}"#, true),
    ];
    for (line, sample_kept) in late {
        let mut lines: Vec<String> = (0..SAMPLE + 500).map(uniform).collect();
        lines.insert(SAMPLE + 100, line.to_string());
        let records: Vec<RawRecord> = lines
            .iter()
            .enumerate()
            .map(|(i, s)| rec(i as i64, s))
            .collect();
        let mut every = JsonDecoder::new();
        every.evolve(&records);
        let expected = match every
            .decode_known("t", &records, Misfit::DeadLetter)
            .unwrap()
        {
            Some(decoded) => decoded,
            None => every.decode_trees("t", &records).unwrap(),
        };
        let mut sampled = JsonDecoder::new();
        let got = sampled.decode("t", &records).unwrap();
        assert_eq!(got.rows, expected.rows, "{line}");
        assert_eq!(got.batch, expected.batch, "{line}");
        assert_eq!(got.dead_letters, expected.dead_letters, "{line}");
        let kept = JsonDecoder::new()
            .decode_sampled("t", &records)
            .unwrap()
            .is_some();
        assert_eq!(kept, *sample_kept, "{line}");
    }
}

/// A later record with a new field (top-level or nested) leaves the fast path: the
/// schema grows and nothing is dropped.
#[test]
fn a_new_field_leaves_the_fast_path_and_evolves_the_schema() {
    let mut d = typed();
    let record = [rec(0, r#"{"id":1,"n":{"a":1,"b":"new"},"extra":true}"#)];
    assert!(
        d.decode_known("t", &record, Misfit::DeadLetter)
            .unwrap()
            .is_none()
    );
    let out = d.decode("t", &record).unwrap();
    let schema = out.batch.unwrap().schema();
    assert!(schema.field_with_name("extra").is_ok());
    assert_eq!(
        schema.field_with_name("n").unwrap().data_type(),
        &DataType::Struct(Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]))
    );
}

#[test]
fn bad_records_become_dead_letters_and_the_rest_decode() {
    let mut d = JsonDecoder::new();
    let mut records = vec![
        rec(0, r#"{"a":1,"b":"x"}"#),
        rec(1, "not json"),
        rec(2, "[1]"),
        rec(3, r#"{"a":2}"#),
        rec(4, ""),
    ];
    records.push(RawRecord {
        payload: None,
        ..rec(5, "")
    });
    let out = d.decode("t", &records).unwrap();
    let batch = out.batch.unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(out.rows, [0, 3]);
    let errors: Vec<(i64, &str)> = out
        .dead_letters
        .iter()
        .map(|d| (d.record.offset, d.error.as_str()))
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].1.contains("invalid JSON"), "{errors:?}");
    assert!(errors[1].1.contains("array"), "{errors:?}");
    assert!(errors[2].1.contains("invalid JSON"), "{errors:?}");
    assert!(errors[3].1.contains("no payload"), "{errors:?}");
    assert_eq!(
        out.dead_letters[1].record.payload.as_deref(),
        Some(&b"[1]"[..])
    );
    assert_eq!(out.dead_letters[3].record.payload, None);
}

#[test]
fn an_integer_column_never_takes_a_fraction() {
    let mut d = JsonDecoder::new();
    decode(&mut d, &[r#"{"price":10}"#]);
    let out = decode(
        &mut d,
        &[r#"{"price":11}"#, r#"{"price":10.5}"#, r#"{"price":"4"}"#],
    );
    let batch = out.batch.unwrap();
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Int64);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 11);
    assert_eq!(out.dead_letters.len(), 2);
    assert!(
        out.dead_letters[0].error.contains("`price`")
            && out.dead_letters[0].error.contains("10.5")
            && out.dead_letters[0].error.contains("Int64"),
        "{}",
        out.dead_letters[0].error
    );
    // A numeric string is not a number.
    assert!(out.dead_letters[1].error.contains("a string"));
}

#[test]
fn new_nested_sub_fields_are_added_not_dropped() {
    let mut d = JsonDecoder::new();
    decode(&mut d, &[r#"{"n":{"a":1}}"#]);
    let out = decode(&mut d, &[r#"{"n":{"a":2,"b":3}}"#, r#"{"n":{"a":"x"}}"#]);
    let batch = out.batch.unwrap();
    let DataType::Struct(fields) = batch.schema().field(0).data_type().clone() else {
        panic!("n is not a struct");
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let n = batch.column(0).as_struct();
    assert_eq!(n.column(1).as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(out.dead_letters.len(), 1);
    assert!(
        out.dead_letters[0].error.contains("`n.a`"),
        "{}",
        out.dead_letters[0].error
    );
}

#[test]
fn a_table_column_is_authoritative_after_a_restart() {
    let table = Schema::new(vec![
        Field::new("price", DataType::Int64, true),
        Field::new("amount", DataType::Float64, true),
        // Converted by a step from text: the data keeps its own type.
        Field::new(
            "ts",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("dt", DataType::Utf8, true),
    ]);
    let mut d = JsonDecoder::for_table(&table);
    // A first batch whose only price is text does not make the column text.
    let out = decode(&mut d, &[r#"{"price":"4.7"}"#]);
    assert!(out.batch.is_none());
    assert!(
        out.dead_letters[0].error.contains("a string"),
        "{:?}",
        out.dead_letters
    );
    let out = decode(
        &mut d,
        &[
            r#"{"price":10.5,"amount":3,"ts":"2026-11-23T10:00:00Z"}"#,
            r#"{"price":7,"amount":4,"ts":"2026-11-23T11:00:00Z"}"#,
        ],
    );
    let batch = out.batch.unwrap();
    let schema = batch.schema();
    assert_eq!(
        schema.field_with_name("price").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("amount").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("ts").unwrap().data_type(),
        &DataType::Utf8
    );
    // A table column the data does not have is not added to the input.
    assert!(schema.field_with_name("dt").is_err());
    assert_eq!(batch.num_rows(), 1);
    let amount = batch.column_by_name("amount").unwrap();
    assert_eq!(amount.as_primitive::<Float64Type>().value(0), 4.0);
    assert_eq!(out.dead_letters.len(), 1);
    assert_eq!(out.dead_letters[0].record.offset, 0);
}

#[test]
fn clashing_types_in_one_batch_keep_the_first_and_dead_letter_the_rest() {
    let mut d = JsonDecoder::new();
    let out = decode(&mut d, &[r#"{"a":1}"#, r#"{"a":{"x":1}}"#, r#"{"a":3}"#]);
    let batch = out.batch.unwrap();
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Int64);
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(out.dead_letters.len(), 1);
    assert_eq!(out.dead_letters[0].record.offset, 1);
}

/// A first batch inference cannot merge (an object where a number was) still gives a
/// struct every sub-field its records bring.
#[test]
fn a_clash_in_the_first_batch_drops_no_sub_field() {
    let mut d = JsonDecoder::new();
    let out = decode(
        &mut d,
        &[
            r#"{"n":{"a":1}}"#,
            r#"{"n":{"a":{"x":1}}}"#,
            r#"{"n":{"a":2,"b":true}}"#,
        ],
    );
    assert_eq!(out.rows, [0, 2]);
    let batch = out.batch.unwrap();
    let n = batch.column(0).as_struct();
    assert!(n.column_by_name("b").unwrap().as_boolean().value(1));
}

#[test]
fn an_all_null_field_waits_for_a_type() {
    let mut d = JsonDecoder::new();
    let out = decode(&mut d, &[r#"{"a":null,"b":1}"#]);
    assert!(out.batch.unwrap().schema().field_with_name("a").is_err());
    let out = decode(&mut d, &[r#"{"a":2.5,"b":1}"#]);
    let batch = out.batch.unwrap();
    let a = batch.column_by_name("a").unwrap();
    assert_eq!(a.as_primitive::<Float64Type>().value(0), 2.5);
    assert!(!a.is_null(0));
}

fn widening() -> JsonDecoder {
    JsonDecoder::new().with_policy(TypePolicy::Widen)
}

#[test]
fn widening_turns_an_integer_field_into_a_double_and_keeps_every_record() {
    let mut d = widening();
    decode(&mut d, &[r#"{"price":10}"#]);
    let out = decode(&mut d, &[r#"{"price":11}"#, r#"{"price":10.5}"#]);
    assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
    let batch = out.batch.unwrap();
    let price = batch.column(0).as_primitive::<Float64Type>();
    assert_eq!((price.value(0), price.value(1)), (11.0, 10.5));
}

#[test]
fn widening_makes_other_clashes_text_holding_json() {
    let mut d = widening();
    decode(&mut d, &[r#"{"v":1,"n":{"a":1}}"#]);
    let out = decode(
        &mut d,
        &[
            r#"{"v":9007199254740993,"n":{"a":2}}"#,
            r#"{"v":2.5,"n":{"a":"x","b":true}}"#,
            r#"{"v":{"deep":[1,2]},"n":{"a":[1]}}"#,
            r#"{"v":"text","n":null}"#,
            r#"not json"#,
        ],
    );
    assert_eq!(out.dead_letters.len(), 1, "{:?}", out.dead_letters);
    assert!(out.dead_letters[0].error.contains("invalid JSON"));
    let batch = out.batch.unwrap();
    let v = batch.column_by_name("v").unwrap().as_string::<i32>();
    let values: Vec<&str> = (0..4).map(|i| v.value(i)).collect();
    assert_eq!(
        values,
        ["9007199254740993", "2.5", r#"{"deep":[1,2]}"#, "text"]
    );
    let n = batch.column_by_name("n").unwrap().as_struct();
    let a = n.column_by_name("a").unwrap().as_string::<i32>();
    assert_eq!((a.value(0), a.value(1), a.value(2)), ("2", "x", "[1]"));
    assert!(n.column_by_name("b").unwrap().as_boolean().value(1));
}

#[test]
fn widening_grows_a_table_column_after_a_restart() {
    let table = Schema::new(vec![Field::new("price", DataType::Int64, true)]);
    let mut d = JsonDecoder::for_table(&table).with_policy(TypePolicy::Widen);
    let out = decode(&mut d, &[r#"{"price":"4.7"}"#, r#"{"price":3}"#]);
    assert!(out.dead_letters.is_empty());
    let batch = out.batch.unwrap();
    let price = batch.column(0).as_string::<i32>();
    assert_eq!((price.value(0), price.value(1)), ("4.7", "3"));
}

fn rules(fold: bool, last: bool) -> NameRules {
    use crate::names::{DuplicateKeys, FieldNames};
    NameRules {
        field_names: if fold {
            FieldNames::Fold
        } else {
            FieldNames::Exact
        },
        duplicate_keys: if last {
            DuplicateKeys::Last
        } else {
            DuplicateKeys::DeadLetter
        },
    }
}

fn errors(out: &Decoded) -> Vec<&str> {
    out.dead_letters.iter().map(|d| d.error.as_str()).collect()
}

fn ints(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    let array = batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Int64Type>();
    (0..array.len())
        .map(|i| array.is_valid(i).then(|| array.value(i)))
        .collect()
}

fn names_of(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn two_fields_of_one_record_that_differ_only_by_case_make_it_a_dead_letter() {
    for fold in [false, true] {
        let mut d = JsonDecoder::new().with_names(rules(fold, false));
        let out = decode(&mut d, &[r#"{"ID":7,"id":8}"#, r#"{"id":9}"#]);
        assert_eq!(out.rows, [1], "fold {fold}");
        assert!(
            errors(&out)[0].contains("`ID` and `id` differ only by case"),
            "{out:?}"
        );
        assert_eq!(ints(out.batch.as_ref().unwrap(), "id"), [Some(9)]);
        let out = decode(&mut d, &[r#"{"id":10}"#, r#"{"n":{"B":1,"b":2}}"#]);
        assert_eq!(out.rows, [0]);
        assert!(errors(&out)[0].contains("`n.B` and `n.b`"), "{out:?}");
    }
}

#[test]
fn a_field_that_differs_from_a_table_column_only_by_case_is_refused_or_folded() {
    let table = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]);
    let lines = [r#"{"id":10,"Name":"upper"}"#, r#"{"id":11,"name":"lower"}"#];
    let mut d = JsonDecoder::for_table(&table);
    let out = decode(&mut d, &lines);
    assert_eq!(out.rows, [1]);
    assert!(
        errors(&out)[0].contains("`Name` differs only by case from the column `name`"),
        "{out:?}"
    );
    let mut d = JsonDecoder::for_table(&table).with_names(rules(true, false));
    let out = decode(&mut d, &lines);
    assert_eq!(out.rows, [0, 1], "{out:?}");
    let batch = out.batch.unwrap();
    assert_eq!(names_of(&batch), ["id", "name"]);
    let names = batch.column_by_name("name").unwrap().as_string::<i32>();
    assert_eq!((names.value(0), names.value(1)), ("upper", "lower"));
    // A later batch on the fast path folds as well.
    let out = decode(&mut d, &[r#"{"NAME":"again","iD":12}"#]);
    assert_eq!(ints(out.batch.as_ref().unwrap(), "id"), [Some(12)]);
}

#[test]
fn a_nested_sub_field_that_differs_only_by_case_is_refused_or_folded() {
    for fold in [false, true] {
        let mut d = JsonDecoder::new().with_names(rules(fold, false));
        decode(&mut d, &[r#"{"n":{"a":1},"tags":[{"k":1}]}"#]);
        let out = decode(
            &mut d,
            &[
                r#"{"n":{"A":2}}"#,
                r#"{"tags":[{"k":2},{"K":3}]}"#,
                r#"{"n":{"a":4}}"#,
            ],
        );
        let batch = out.batch.clone().unwrap();
        let n = batch.column_by_name("n").unwrap().as_struct();
        assert_eq!(n.fields().len(), 1, "{:?}", n.fields());
        let a = n.column_by_name("a").unwrap().as_primitive::<Int64Type>();
        if fold {
            assert_eq!(out.rows, [0, 1, 2], "{:?}", out.dead_letters);
            assert_eq!((a.value(0), a.value(2)), (2, 4));
        } else {
            assert_eq!(out.rows, [2]);
            let e = errors(&out);
            assert!(e[0].contains("`n.A`") && e[0].contains("`n.a`"), "{e:?}");
            assert!(e[1].contains("`tags[1].K`"), "{e:?}");
            assert_eq!(a.value(0), 4);
        }
    }
}

#[test]
fn new_fields_of_one_first_batch_that_differ_only_by_case_keep_the_first_name() {
    // Written so that the first name is not the one that sorts first.
    let lines = [
        r#"{"id":7}"#,
        r#"{"ID":8}"#,
        r#"{"x":1,"n":{"a":1}}"#,
        r#"{"n":{"A":2}}"#,
    ];
    let mut d = JsonDecoder::new();
    let out = decode(&mut d, &lines);
    assert_eq!(out.rows, [0, 2]);
    let e = errors(&out);
    assert!(
        e[0].contains("`ID` differs only by case from the column `id`"),
        "{e:?}"
    );
    assert!(
        e[1].contains("`n.A` differs only by case from the column `n.a`"),
        "{e:?}"
    );
    let mut columns = names_of(out.batch.as_ref().unwrap());
    columns.sort();
    assert_eq!(columns, ["id", "n", "x"]);
    // Next batch: the first name is the column's.
    let out = decode(&mut d, &[r#"{"id":9}"#, r#"{"Id":10}"#]);
    assert_eq!(out.rows, [0]);

    let mut d = JsonDecoder::new().with_names(rules(true, false));
    let out = decode(&mut d, &lines);
    assert_eq!(out.rows, [0, 1, 2, 3], "{:?}", out.dead_letters);
    let batch = out.batch.unwrap();
    let mut columns = names_of(&batch);
    columns.sort();
    assert_eq!(columns, ["id", "n", "x"]);
    assert_eq!(ints(&batch, "id"), [Some(7), Some(8), None, None]);
    let n = batch.column_by_name("n").unwrap().as_struct();
    let a = n.column_by_name("a").unwrap().as_primitive::<Int64Type>();
    assert_eq!((a.value(2), a.value(3)), (1, 2));
}

#[test]
fn a_repeated_key_at_any_depth_is_a_dead_letter_unless_the_last_is_kept() {
    let lines = [
        r#"{"id":1,"id":2}"#,
        r#"{"id":5,"n":{"a":1,"a":2}}"#,
        r#"{"id":3,"n":{"a":4}}"#,
    ];
    let mut d = JsonDecoder::new();
    let out = decode(&mut d, &lines);
    assert_eq!(out.rows, [2]);
    let e = errors(&out);
    assert!(e[0].starts_with("duplicate key `id`"), "{e:?}");
    assert!(e[1].starts_with("duplicate key `n.a`"), "{e:?}");
    // The same on the fast path of a typed decoder.
    let out = decode(&mut d, &lines);
    assert_eq!(out.rows, [2]);

    let mut d = JsonDecoder::new().with_names(rules(false, true));
    for _ in 0..2 {
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [0, 1, 2], "{:?}", out.dead_letters);
        let batch = out.batch.unwrap();
        assert_eq!(ints(&batch, "id"), [Some(2), Some(5), Some(3)]);
        let a = batch
            .column_by_name("n")
            .unwrap()
            .as_struct()
            .column(0)
            .clone();
        let a = a.as_primitive::<Int64Type>();
        assert_eq!((a.value(1), a.value(2)), (2, 4));
    }
    // A flat schema's one-pass decoder keeps the last value too.
    let mut d = JsonDecoder::new().with_names(rules(false, true));
    decode(&mut d, &[r#"{"id":0,"s":"a"}"#]);
    let out = decode(&mut d, &[r#"{"s":"x","id":1,"s":"y"}"#]);
    let batch = out.batch.unwrap();
    let s = batch.column_by_name("s").unwrap().as_string::<i32>();
    assert_eq!(s.value(0), "y");
    assert_eq!(s.value_data(), b"y");
}
