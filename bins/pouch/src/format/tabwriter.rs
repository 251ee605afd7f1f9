//! Column alignment with the exact rules of Go's `text/tabwriter` as docker configures it
//! (`minwidth 10, tabwidth 1, padding 3, padchar ' '`), so tables line up like docker's.
//!
//! A cell is text terminated by a tab; the text after a line's last tab is not part of any
//! column. A column's width is decided per *block*: the run of consecutive lines that have a
//! cell in that column. A line with no tab at all ends every block.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

struct Line<'a> {
    /// All cells including the trailing, unterminated one.
    cells: Vec<&'a str>,
}

impl Line<'_> {
    /// Number of tab-terminated cells, i.e. columns this line takes part in.
    fn columns(&self) -> usize {
        self.cells.len() - 1
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Aligns `text` (lines separated by `\n`, cells by `\t`).
pub fn align(text: &str) -> String {
    align_with(text, MIN_WIDTH)
}

/// [`align`] with another minimum cell width (`top` uses 20).
pub fn align_with(text: &str, min_width: usize) -> String {
    let ends_with_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Line<'_>> = body
        .split('\n')
        .map(|l| Line {
            cells: l.split('\t').collect(),
        })
        .collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    format(&lines, 0, lines.len(), min_width, &mut widths, &mut out);
    if !ends_with_newline {
        out.pop();
    }
    out
}

/// Go's `Writer.format`: finds the blocks of column `widths.len()` within `line0..line1`,
/// fixes that column's width for each block and recurses into the next column.
fn format(
    lines: &[Line<'_>],
    mut line0: usize,
    line1: usize,
    min_width: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column >= lines[this].columns() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = min_width;
        while this < line1 && column < lines[this].columns() {
            w = w.max(width(lines[this].cells[column]) + PADDING);
            this += 1;
        }
        widths.push(w);
        format(lines, line0, this, min_width, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Line<'_>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.cells.iter().enumerate() {
            out.push_str(cell);
            if j < line.columns() {
                if let Some(&w) = widths.get(j) {
                    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
                }
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_go_tabwriter() {
        assert_eq!(
            align("A\tBB\tC\nlonger-cell-value\tx\ty\n"),
            "A                   BB        C\nlonger-cell-value   x         y\n"
        );
    }

    #[test]
    fn trailing_cell_is_not_padded_and_minwidth_applies() {
        assert_eq!(align("a\tb\n"), "a         b\n");
        assert_eq!(align("a\tb\t\n"), "a         b         \n");
        assert_eq!(align("no tabs\n"), "no tabs\n");
        assert_eq!(align(""), "");
    }

    #[test]
    fn blocks_are_independent_across_tabless_lines() {
        assert_eq!(
            align("aaaaaaaaaaaaaaa\tb\nplain\nc\td\n"),
            "aaaaaaaaaaaaaaa   b\nplain\nc         d\n"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(align("é\tx\nab\ty\n"), "é         x\nab        y\n");
    }
}
