//! The lab's results as a plain-text table (printed) and a Markdown report.

use std::fmt::Write;

use crate::run::{LabResults, LayoutResult, QueryResult};

/// Layouts, then one block per query: what each layout read and how long it took.
pub fn text(results: &LabResults) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>10} {:>7} {:>11} {:>11} {:>8}",
        "layout", "partitions", "files", "bytes", "mean file", "write s"
    );
    for l in &results.layouts {
        let _ = writeln!(
            out,
            "{:<22} {:>10} {:>7} {:>11} {:>11} {:>8.2}",
            l.layout,
            l.partitions,
            l.files,
            size(l.bytes),
            size(l.mean_file_bytes()),
            l.write_secs
        );
    }
    for (i, q) in results.queries.iter().enumerate() {
        let _ = writeln!(out, "\n{}", q.name);
        let _ = writeln!(
            out,
            "  {:<20} {:>10} {:>13} {:>11} {:>11} {:>9}",
            "layout", "median ms", "files read", "data read", "of table", "pruned"
        );
        for l in &results.layouts {
            let r = &l.queries[i];
            let _ = writeln!(
                out,
                "  {:<20} {:>10.1} {:>13} {:>11} {:>10.1}% {:>9}",
                l.layout,
                r.median_ms,
                format!("{}/{}", r.files_scanned, l.files),
                size(r.bytes_read),
                share(r.bytes_read, l.bytes),
                pruned(l, r),
            );
        }
    }
    out
}

/// The Markdown report: the setup, the layouts, a table per query, the trade-offs the
/// numbers show, and the queries' SQL.
pub fn markdown(results: &LabResults) -> String {
    let mut md = String::from("# Partition lab\n\n");
    let _ = writeln!(
        md,
        "{} rows, written in {} commit(s) per layout; each query ran once untimed, then \
         {} timed runs (median shown). Files and bytes read are DataFusion's scan metrics \
         (`bytes_scanned` of the Parquet reader: footers and the pages of the columns \
         needed). Every layout gave the same answer to every query.\n",
        results.rows, results.commits, results.runs
    );
    if !results.values.is_empty() {
        let values: Vec<String> = results
            .values
            .iter()
            .map(|(k, v)| format!("`${{{k}}}` = `{v}`"))
            .collect();
        let _ = writeln!(md, "Values taken from the data: {}.\n", values.join(", "));
    }
    md.push_str("## Layouts\n\n");
    md.push_str("| layout | partition_by | partitions | files | bytes | mean file | largest / smallest partition | write s |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for l in &results.layouts {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} | {:.2} |",
            l.layout,
            if l.partition_by.is_empty() {
                "(none)"
            } else {
                &l.partition_by
            },
            l.partitions,
            l.files,
            size(l.bytes),
            size(l.mean_file_bytes()),
            skew(l),
            l.write_secs
        );
    }
    md.push_str("\n## Queries\n\n![chart](chart.svg)\n\n");
    for (i, q) in results.queries.iter().enumerate() {
        let _ = writeln!(md, "### {}\n", q.name);
        md.push_str(
            "| layout | median ms | files read | data read | of the table | partitions pruned |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|\n");
        for l in &results.layouts {
            let r = &l.queries[i];
            let _ = writeln!(
                md,
                "| {} | {:.1} | {} of {} | {} | {:.1}% | {} |",
                l.layout,
                r.median_ms,
                r.files_scanned,
                l.files,
                size(r.bytes_read),
                share(r.bytes_read, l.bytes),
                pruned(l, r)
            );
        }
        md.push('\n');
    }
    md.push_str("## What the numbers show\n\n");
    for line in findings(results) {
        let _ = writeln!(md, "- {line}");
    }
    md.push_str("\n## SQL\n\n");
    for q in &results.queries {
        let _ = writeln!(md, "{}:\n\n```sql\n{}\n```\n", q.name, q.sql);
    }
    md
}

/// Per query: the fastest layout and the one that read least, against the first layout
/// (the baseline); per layout: the small-file cost on the full scan.
fn findings(results: &LabResults) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(base) = results.layouts.first() else {
        return lines;
    };
    for (i, q) in results.queries.iter().enumerate() {
        let fastest = results
            .layouts
            .iter()
            .min_by(|a, b| a.queries[i].median_ms.total_cmp(&b.queries[i].median_ms));
        let leanest = results
            .layouts
            .iter()
            .min_by_key(|l| l.queries[i].bytes_read);
        if let (Some(f), Some(l)) = (fastest, leanest) {
            let b = &base.queries[i];
            lines.push(format!(
                "**{}**: fastest on `{}` ({:.1} ms, {:.2}x `{}`'s time); least read on `{}` \
                 ({}, {:.1}% of what `{}` read).",
                q.name,
                f.layout,
                f.queries[i].median_ms,
                f.queries[i].median_ms / b.median_ms.max(1e-9),
                base.layout,
                l.layout,
                size(l.queries[i].bytes_read),
                share(l.queries[i].bytes_read, b.bytes_read),
                base.layout,
            ));
        }
    }
    if let Some(most) = results.layouts.iter().max_by_key(|l| l.files)
        && most.files > base.files
    {
        lines.push(format!(
            "Small files: `{}` holds {} files of {} on average against `{}`'s {} of {}; \
             every file costs a footer read and a task, which a scan of everything pays \
             (compare their times on the widest query).",
            most.layout,
            most.files,
            size(most.mean_file_bytes()),
            base.layout,
            base.files,
            size(base.mean_file_bytes()),
        ));
    }
    lines
}

fn pruned(l: &LayoutResult, r: &QueryResult) -> String {
    format!(
        "{}/{}",
        l.partitions.saturating_sub(r.partitions_scanned),
        l.partitions
    )
}

fn skew(l: &LayoutResult) -> String {
    match (l.largest_partition_bytes, l.smallest_partition_bytes) {
        (big, small) if l.partitions > 1 && small > 0 => {
            format!("{:.1}x", big as f64 / small as f64)
        }
        _ => "-".into(),
    }
}

fn share(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// Bytes as B, KiB, MiB, GiB or TiB with one decimal.
pub fn size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// 1234567 → "1,234,567": summaries are read by people.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
