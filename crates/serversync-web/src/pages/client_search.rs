//! Finding clients by what a person remembers of them: the id (`12` or `#12`), part of the
//! e-mail, the name or the company, case-insensitively. Used by the clients page and by the
//! review's picker of the client for accounts without a usable e-mail (instead of a list of
//! every client).

use serversync_core::model::Client;

/// At most this many matches are shown (the picker is a short list of radio buttons).
pub const MAX_MATCHES: usize = 50;

/// The clients matching `q` (trimmed; at most 200 characters are looked at), best first: an
/// exact id, then an exact e-mail, then the others by id. Empty `q` matches nothing; the
/// second value tells whether more than [`MAX_MATCHES`] matched.
pub fn find<'a>(clients: &'a [Client], q: &str) -> (Vec<&'a Client>, bool) {
    let q: String = q
        .trim()
        .chars()
        .take(200)
        .collect::<String>()
        .to_lowercase();
    if q.is_empty() {
        return (Vec::new(), false);
    }
    let id = q.trim_start_matches('#').parse::<i64>().ok();
    let rank = |c: &Client| -> Option<u8> {
        if Some(c.id) == id {
            return Some(0);
        }
        let email = c.email.to_lowercase();
        if email == q {
            return Some(1);
        }
        let name = format!("{} {}", c.first_name, c.last_name).to_lowercase();
        (email.contains(&q) || name.contains(&q) || c.company.to_lowercase().contains(&q))
            .then_some(2)
    };
    let mut hits: Vec<(u8, &Client)> = clients
        .iter()
        .filter_map(|c| rank(c).map(|r| (r, c)))
        .collect();
    hits.sort_by_key(|(r, c)| (*r, c.id));
    let more = hits.len() > MAX_MATCHES;
    (
        hits.into_iter().take(MAX_MATCHES).map(|(_, c)| c).collect(),
        more,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: i64, email: &str, first: &str, last: &str, company: &str) -> Client {
        Client {
            id,
            email: email.into(),
            first_name: first.into(),
            last_name: last.into(),
            company: company.into(),
            status: "Active".into(),
        }
    }

    #[test]
    fn finds_by_id_email_name_and_company_best_first() {
        let all = vec![
            client(1, "ann@mail.test", "Ann", "Lee", ""),
            client(2, "bob@shop.test", "Bob", "Stone", "Shop Ltd"),
            client(12, "ann.lee@work.test", "Annette", "Lee", "Work"),
            client(21, "x@mail.test", "Xi", "1", ""),
        ];
        let ids = |q: &str| find(&all, q).0.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids("12"), vec![12]);
        assert_eq!(ids("#2"), vec![2]);
        assert_eq!(ids("ANN"), vec![1, 12]);
        assert_eq!(ids("ann@mail.test"), vec![1]);
        assert_eq!(ids("lee"), vec![1, 12]);
        assert_eq!(ids("shop ltd"), vec![2]);
        assert_eq!(ids("bob stone"), vec![2]);
        // An id query also finds the name "Xi 1", after the exact id.
        assert_eq!(ids("1"), vec![1, 21]);
        assert!(ids("  ").is_empty() && ids("nobody").is_empty());
    }

    #[test]
    fn matches_are_capped() {
        let all: Vec<Client> = (0..60)
            .map(|i| client(i, &format!("c{i}@mail.test"), "C", "", ""))
            .collect();
        let (hits, more) = find(&all, "mail.test");
        assert_eq!(hits.len(), MAX_MATCHES);
        assert!(more);
        assert_eq!(hits[0].id, 0);
        let (hits, more) = find(&all, "c5");
        assert_eq!(
            hits.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![5, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59]
        );
        assert!(!more);
    }
}
