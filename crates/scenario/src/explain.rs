//! `--explain`: the scenario's architecture as its README draws it, then what ran as
//! arrows between the systems with the run's numbers on them, then the trade-offs the
//! README lists — in a terminal 100 columns wide.

use std::path::Path;

/// Widest line the drawing makes.
const WIDTH: usize = 100;

/// One hop of data: from a system, through what was measured, to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arrow {
    pub(crate) from: String,
    pub(crate) label: String,
    pub(crate) to: String,
}

impl Arrow {
    pub(crate) fn new(
        from: impl Into<String>,
        label: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Arrow {
            from: from.into(),
            label: label.into(),
            to: to.into(),
        }
    }
}

/// The arrows, one a line (`from ──label──► to`), the target on a line of its own when
/// the whole would pass [`WIDTH`]; an arrow from the same place as the one above starts
/// under it.
pub(crate) fn draw(arrows: &[Arrow]) -> String {
    let mut out = String::new();
    let mut last_from = "";
    // Whether the arrow above had its hop on a line of its own: one from the same place
    // then starts under that hop.
    let mut wrapped = false;
    for arrow in arrows {
        let same = arrow.from == last_from;
        let from = if same {
            " ".repeat(arrow.from.chars().count())
        } else {
            arrow.from.clone()
        };
        last_from = &arrow.from;
        let line = format!(" {from} ──{}──► {}", arrow.label, arrow.to);
        if line.chars().count() <= WIDTH && !(same && wrapped) {
            wrapped = false;
            out.push_str(&line);
        } else {
            wrapped = true;
            // The origin on a line of its own (unless it is the one above's), the hop
            // indented under it.
            if !from.trim().is_empty() {
                out.push_str(&format!(" {from}\n"));
            }
            out.push_str(&format!("     ──{}──► {}", arrow.label, arrow.to));
        }
        out.push('\n');
    }
    out
}

/// A section of the scenario's README (`## heading` up to the next `## `), without code
/// fences and the blank lines around it; `None` when the README or the section is
/// missing.
pub(crate) fn readme_section(folder: &Path, heading: &str) -> Option<String> {
    let text = std::fs::read_to_string(folder.join("README.md")).ok()?;
    let start = text.find(&format!("\n## {heading}\n"))?;
    let body = &text[start + heading.len() + 5..];
    let end = body.find("\n## ").unwrap_or(body.len());
    // A drawing's code fences are Markdown, not part of the picture.
    let lines: Vec<&str> = body[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect();
    // Blank lines around it go, a drawing's leading spaces stay (they align it).
    Some(lines.join("\n").trim_matches('\n').trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_fit_the_width_and_share_their_origin() {
        let arrows = [
            Arrow::new("topic t", "7 records", "pipeline p"),
            Arrow::new("pipeline p", "10 rows, 1 commit", "lake table x"),
            Arrow::new("pipeline p", "1 dead letter", "lake table x_dead_letters"),
            Arrow::new("a".repeat(60), "a long label of many words", "b".repeat(30)),
        ];
        let drawn = draw(&arrows);
        let lines: Vec<&str> = drawn.lines().collect();
        assert_eq!(lines[0], " topic t ──7 records──► pipeline p");
        assert_eq!(
            lines[2],
            "            ──1 dead letter──► lake table x_dead_letters"
        );
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{drawn}");
        assert_eq!(lines.len(), 5);
        let repeated = [arrows[3].clone(), arrows[3].clone()];
        assert_eq!(draw(&repeated).lines().count(), 3, "{}", draw(&repeated));
    }

    #[test]
    fn a_readme_section_ends_at_the_next_heading() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("README.md"),
            "# x\n\n## Trade-offs to mention\n\n```\n  drawn\n```\n- two\n\n## More\nno\n",
        )
        .unwrap();
        assert_eq!(
            readme_section(dir.path(), "Trade-offs to mention").unwrap(),
            "  drawn\n- two"
        );
        assert_eq!(readme_section(dir.path(), "Missing"), None);
    }
}
