//! The literals and SQL syntax a dynamic filter's condition is written with: the kinds of
//! join key a database compares as DataFusion does, the values it reads back unchanged,
//! and PostgreSQL's integer arrays.

use std::fmt::Write as _;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast;

/// Dates the unparser writes as `YYYY-MM-DD` and every engine reads back (MySQL's DATE
/// range): days since 1970-01-01 of 1000-01-01 and 9999-12-31.
const FIRST_DAY: i32 = -354_285;
const LAST_DAY: i32 = 2_932_896;

/// What a join key is, for what the database compares as DataFusion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Integer,
    Date,
    Text,
}

/// True when `value` is a literal of `kind` that the database reads back as the same
/// value.
pub(super) fn fits(kind: Kind, value: &ScalarValue) -> bool {
    match (kind, value) {
        (Kind::Integer, v) => integer_value(v).is_some(),
        (Kind::Date, ScalarValue::Date32(Some(days))) => (FIRST_DAY..=LAST_DAY).contains(days),
        (
            Kind::Text,
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => plain_text(s),
        _ => false,
    }
}

/// `(left op right)`: the conditions combined here spell out their precedence.
pub(super) fn nested(left: ast::Expr, op: ast::BinaryOperator, right: ast::Expr) -> ast::Expr {
    ast::Expr::Nested(Box::new(ast::Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }))
}

/// PostgreSQL's `column = ANY('{1,2,…}'::BIGINT[])` of integer `values`: one literal to
/// parse instead of thousands, and planned several times faster (measured on 999 keys:
/// parse and plan 2.8 ms as an IN list, 0.3 ms as an array). The same rows: `= ANY` of an
/// array is what PostgreSQL makes of an IN list, and every integer column compares with
/// `bigint`.
pub(super) fn integer_array(column: ast::Expr, values: &[&ScalarValue]) -> Option<ast::Expr> {
    let mut array = String::with_capacity(values.len() * 8 + 2);
    array.push('{');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            array.push(',');
        }
        write!(array, "{}", integer_value(value)?).ok()?;
    }
    array.push('}');
    let element = Box::new(ast::DataType::BigInt(None));
    Some(ast::Expr::AnyOp {
        left: Box::new(column),
        compare_op: ast::BinaryOperator::Eq,
        right: Box::new(ast::Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr: Box::new(ast::Expr::value(ast::Value::SingleQuotedString(array))),
            data_type: ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(element, None)),
            array: false,
            format: None,
        }),
        is_some: false,
    })
}

/// An integer's value (every integer type fits in an `i128`); `None` for any other
/// value and for NULL.
pub(super) fn integer_value(value: &ScalarValue) -> Option<i128> {
    let value = match value {
        ScalarValue::Int8(Some(v)) => i128::from(*v),
        ScalarValue::Int16(Some(v)) => i128::from(*v),
        ScalarValue::Int32(Some(v)) => i128::from(*v),
        ScalarValue::Int64(Some(v)) => i128::from(*v),
        ScalarValue::UInt8(Some(v)) => i128::from(*v),
        ScalarValue::UInt16(Some(v)) => i128::from(*v),
        ScalarValue::UInt32(Some(v)) => i128::from(*v),
        ScalarValue::UInt64(Some(v)) => i128::from(*v),
        _ => return None,
    };
    Some(value)
}

/// A string written as a literal safely: the SQL writer doubles a lone `'` but not `''`
/// nor `\'`, a backslash is an escape where `standard_conforming_strings` is off, and
/// PostgreSQL's text holds no NUL.
fn plain_text(s: &str) -> bool {
    !s.contains(['\'', '\\', '\0'])
}
