//! Page numbers for paged tables (the run page's pager, above and below its table).

/// One entry of the page numbers: a link, the current page, or a gap (`…`).
pub struct PageLink {
    pub number: usize,
    pub href: String,
    pub current: bool,
    pub gap: bool,
}

/// Page numbers to show for `page` of `pages`: the first, the last, and two either side of
/// the current one, with one gap entry where numbers are left out (so 1 000 pages give at
/// most 9 entries, not 1 000 links).
pub(super) fn page_links(
    page: usize,
    pages: usize,
    href: impl Fn(usize) -> String,
) -> Vec<PageLink> {
    let mut out = Vec::new();
    let mut last = 0;
    for n in 1..=pages {
        let near = n + 2 >= page && n <= page + 2;
        if n == 1 || n == pages || near {
            if n > last + 1 {
                out.push(PageLink {
                    number: 0,
                    href: String::new(),
                    current: false,
                    gap: true,
                });
            }
            out.push(PageLink {
                number: n,
                href: href(n),
                current: n == page,
                gap: false,
            });
            last = n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::page_links;

    fn shown(page: usize, pages: usize) -> String {
        page_links(page, pages, |n| format!("?page={n}"))
            .iter()
            .map(|l| {
                if l.gap {
                    "…".to_string()
                } else if l.current {
                    format!("[{}]", l.number)
                } else {
                    l.number.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn page_numbers_keep_ends_and_neighbours_with_gaps() {
        assert_eq!(shown(1, 1), "[1]");
        assert_eq!(shown(2, 3), "1 [2] 3");
        assert_eq!(shown(1, 10), "[1] 2 3 … 10");
        assert_eq!(shown(6, 12), "1 … 4 5 [6] 7 8 … 12");
        assert_eq!(shown(12, 12), "1 … 10 11 [12]");
        let links = page_links(3, 4, |n| format!("/runs/1?page={n}"));
        assert_eq!(links[0].href, "/runs/1?page=1");
        assert!(links[2].current && links[2].number == 3);
    }
}
