//! The run page's selection fields, parsed: `c` values are `"{index}:{action}"` (one item),
//! `all` values are `"{category}:{action}"` (every item of a category offering the action).
//! The typed pairs go to `serversync_app::edits::selection_from_picks`.

use serversync_core::analysis::{Action, Category};

use crate::WebError;

/// Parsed selection fields: (item index, action) picks and (category, action) wholes.
pub type Picks = (Vec<(usize, Action)>, Vec<(Category, Action)>);

/// Parses the fields; a malformed value is a 400 naming it.
pub fn parse(choices: &[String], all: &[String]) -> Result<Picks, WebError> {
    let bad = |m: String| WebError::BadRequest(m);
    let action_of = |a: &str, whole: &str| {
        a.trim()
            .parse::<Action>()
            .map_err(|e| bad(format!("selection {whole:?}: {e}")))
    };
    let mut picks = Vec::with_capacity(choices.len());
    for c in choices {
        let (i, action) = c
            .split_once(':')
            .and_then(|(i, a)| i.trim().parse::<usize>().ok().map(|i| (i, a)))
            .ok_or_else(|| bad(format!("selection {c:?} is not INDEX:ACTION")))?;
        picks.push((i, action_of(action, c)?));
    }
    let mut wholes = Vec::with_capacity(all.len());
    for a in all {
        let (category, action) = a
            .split_once(':')
            .ok_or_else(|| bad(format!("selection {a:?} is not CATEGORY:ACTION")))?;
        let category = Category::ALL
            .into_iter()
            .find(|k| k.as_str() == category.trim())
            .ok_or_else(|| bad(format!("selection {a:?}: unknown category {category:?}")))?;
        wholes.push((category, action_of(action, a)?));
    }
    Ok((picks, wholes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_or_name_the_bad_value() {
        let (p, w) = parse(
            &["3:sync".into(), " 4 : import".into()],
            &["moved:move".into()],
        )
        .unwrap();
        assert_eq!(p, vec![(3, Action::Sync), (4, Action::Import)]);
        assert_eq!(w, vec![(Category::Moved, Action::Move)]);
        let e = |c: &str, a: &str| {
            parse(&[c.to_string()], &[a.to_string()])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("x:sync", "moved:move"),
            "selection \"x:sync\" is not INDEX:ACTION"
        );
        assert_eq!(
            e("1:fly", "moved:move"),
            "selection \"1:fly\": unknown action \"fly\""
        );
        assert_eq!(
            e("1:sync", "nope:sync"),
            "selection \"nope:sync\": unknown category \"nope\""
        );
        assert_eq!(
            e("1:sync", "moved"),
            "selection \"moved\" is not CATEGORY:ACTION"
        );
    }
}
