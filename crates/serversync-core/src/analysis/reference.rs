//! A straightforward reference of [`super::analyse`] for the property tests: owned `String`
//! keys, `HashMap<String, Vec<usize>>` indexes, one thread, the public [`compare`] (which
//! recomputes domain keys per pair), and a plain `sort_by` of the items. It is the
//! analysis as DESIGN.md §3 states it, without any of the optimisations, so that the
//! optimised function can be checked against it on random inputs.

use std::collections::HashMap;

use super::{
    billing_identifier, compare, has_sync_diff, identifier_key, order::remote_order, Action,
    Analysis, AnalysisInput, BillingRef, Category, Counts, Diff, Item,
};
use crate::model::{ServiceId, ServiceStatus};
use crate::module::UniqueIdField;
use crate::normalize::strip_www;

pub(crate) fn reference_analyse(input: &AnalysisInput<'_>) -> Analysis {
    let field = &input.meta.unique_identifier_field;
    let is_domain = *field == UniqueIdField::Domain;
    let uid_name = input.meta.unique_identifier_display_name.to_lowercase();
    let remote_keys: Vec<Option<String>> = input
        .accounts
        .iter()
        .map(|a| identifier_key(field, &a.unique_identifier))
        .collect();
    let service_keys: Vec<Option<String>> = input
        .services
        .iter()
        .map(|r| identifier_key(field, billing_identifier(field, &r.service)))
        .collect();
    let mut remote_count: HashMap<String, usize> = HashMap::new();
    for k in remote_keys.iter().flatten() {
        *remote_count.entry(k.clone()).or_default() += 1;
    }
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_www: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, k) in service_keys.iter().enumerate() {
        let Some(k) = k else { continue };
        by_key.entry(k.clone()).or_default().push(i);
        if is_domain && !remote_count.contains_key(k) {
            if let Some(stripped) = strip_www(k) {
                by_www.entry(stripped.to_string()).or_default().push(i);
            }
        }
    }
    let mut other_by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in input.other_live.iter().enumerate() {
        if let Some(k) = identifier_key(field, billing_identifier(field, &r.service)) {
            if remote_count.contains_key(&k) {
                other_by_key.entry(k).or_default().push(i);
            }
        }
    }

    let mut items = Vec::new();
    let mut accounted = vec![false; input.services.len()];
    for (ai, acc) in input.accounts.iter().enumerate() {
        let Some(key) = remote_keys[ai].clone() else {
            items.push(Item::conflict(
                String::new(),
                ai,
                vec![format!(
                    "the account has no usable {uid_name} ({:?})",
                    acc.unique_identifier
                )],
                Vec::new(),
            ));
            continue;
        };
        let shared = remote_count[&key];
        let exact = by_key.get(&key).cloned().unwrap_or_default();
        let www = if is_domain {
            by_www.get(&key).cloned().unwrap_or_default()
        } else {
            Vec::new()
        };
        if shared > 1 {
            let related_idx = if exact.is_empty() { www } else { exact };
            let related: Vec<ServiceId> = related_idx
                .iter()
                .map(|&i| {
                    accounted[i] = true;
                    input.services[i].service.id
                })
                .collect();
            items.push(Item::conflict(
                key.clone(),
                ai,
                vec![format!(
                    "{shared} accounts on the server share the {uid_name} {key:?}"
                )],
                related,
            ));
            continue;
        }
        let mut notes: Vec<String> = Vec::new();
        let candidates = if !exact.is_empty() {
            exact
        } else if www.len() == 1 {
            notes.push("matched by removing a leading \"www.\" from the billing domain".into());
            www
        } else {
            Vec::new()
        };
        if !candidates.is_empty() {
            let mut ranked: Vec<(usize, Vec<Diff>, usize)> = candidates
                .iter()
                .map(|&si| {
                    let (d, eq) = compare(input.meta, input.server_ip, acc, &input.services[si]);
                    (si, d, eq)
                })
                .collect();
            ranked.sort_by(|a, b| {
                let sa = &input.services[a.0].service;
                let sb = &input.services[b.0].service;
                sb.status
                    .is_live()
                    .cmp(&sa.status.is_live())
                    .then(b.2.cmp(&a.2))
                    .then(sa.id.cmp(&sb.id))
            });
            let (best, diffs, _) = ranked.remove(0);
            accounted[best] = true;
            let best_svc = &input.services[best].service;
            let (category, actions): (Category, &'static [Action]) = if !best_svc.status.is_live() {
                (Category::TerminatedInBilling, &[Action::Reactivate])
            } else if has_sync_diff(&diffs) {
                (Category::OutOfSync, &[Action::Sync])
            } else {
                (Category::InSync, &[])
            };
            let mut dups = Vec::new();
            for (si, d, _) in ranked {
                accounted[si] = true;
                let svc = &input.services[si].service;
                if svc.status.is_live() {
                    dups.push(Item {
                        category: Category::Duplicate,
                        key: key.clone(),
                        remote: Some(ai),
                        billing: Some(BillingRef::ThisServer(si)),
                        diffs: d,
                        actions: &[Action::Terminate],
                        notes: vec![format!(
                            "service {} also matches; service {} is the better match",
                            svc.id, best_svc.id
                        )],
                        related_service_ids: Vec::new(),
                    });
                } else {
                    notes.push(format!(
                        "also matches {} service {}",
                        svc.status.as_str(),
                        svc.id
                    ));
                }
            }
            items.push(Item {
                category,
                key: key.clone(),
                remote: Some(ai),
                billing: Some(BillingRef::ThisServer(best)),
                diffs,
                actions,
                notes,
                related_service_ids: Vec::new(),
            });
            items.extend(dups);
            continue;
        }
        match other_by_key.get(&key).map(Vec::as_slice) {
            Some([oi]) => {
                let (diffs, _) = compare(input.meta, input.server_ip, acc, &input.other_live[*oi]);
                items.push(Item {
                    category: Category::Moved,
                    key,
                    remote: Some(ai),
                    billing: Some(BillingRef::OtherServer(*oi)),
                    diffs,
                    actions: &[Action::Move],
                    notes: vec![match input.other_live[*oi].service.server_id {
                        Some(id) => format!("billing has this service on server {id}"),
                        None => "billing has this service on another server".into(),
                    }],
                    related_service_ids: Vec::new(),
                });
            }
            Some(several) if several.len() > 1 => {
                let mut ids: Vec<ServiceId> = several
                    .iter()
                    .map(|&i| input.other_live[i].service.id)
                    .collect();
                ids.sort_unstable();
                items.push(Item::conflict(
                    key,
                    ai,
                    vec![format!(
                        "not in billing on this server, but live on several other servers (services {ids:?})"
                    )],
                    Vec::new(),
                ));
            }
            _ => items.push(Item {
                category: Category::NotInBilling,
                key,
                remote: Some(ai),
                billing: None,
                diffs: Vec::new(),
                actions: &[Action::Import],
                notes: Vec::new(),
                related_service_ids: Vec::new(),
            }),
        }
    }

    let mut live_services = 0;
    for (si, rec) in input.services.iter().enumerate() {
        let status = rec.service.status;
        if status.is_live() {
            live_services += 1;
        }
        if accounted[si] {
            continue;
        }
        let category = match status {
            ServiceStatus::Active | ServiceStatus::Suspended => Category::NotOnServer,
            ServiceStatus::Pending => Category::PendingNotOnServer,
            _ => continue,
        };
        let mut notes = Vec::new();
        let mut actions: &'static [Action] = &[];
        if category == Category::NotOnServer {
            if input.listing_complete {
                actions = &[Action::Terminate];
            } else {
                notes.push("the listing was incomplete: termination is not offered".into());
            }
        }
        if service_keys[si].is_none() {
            notes.push(format!("the service has no usable {uid_name} in billing"));
        }
        items.push(Item {
            category,
            key: service_keys[si].clone().unwrap_or_default(),
            remote: None,
            billing: Some(BillingRef::ThisServer(si)),
            diffs: Vec::new(),
            actions,
            notes,
            related_service_ids: Vec::new(),
        });
    }
    for it in &mut items {
        if let Some(ai) = it.remote.filter(|_| it.category.is_primary()) {
            let mut notes = input.accounts[ai].notes.clone();
            notes.append(&mut it.notes);
            it.notes = notes;
        }
    }
    items.sort_by(|a, b| {
        a.category
            .cmp(&b.category)
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.service_id(input).cmp(&b.service_id(input)))
            .then_with(|| {
                remote_order(a.remote_account(input)).cmp(&remote_order(b.remote_account(input)))
            })
    });
    let mut counts = Counts::default();
    for it in &items {
        counts.bump(it.category);
    }
    let mut warnings = Vec::new();
    if input.accounts.is_empty() && live_services > 0 {
        warnings.push(format!(
            "the server listed 0 accounts while billing has {live_services} live services on it: terminations are blocked unless forced"
        ));
    }
    if !input.listing_complete {
        warnings.push(
            "the listing was incomplete (records were skipped): no termination is offered".into(),
        );
    }
    Analysis {
        items,
        counts,
        live_services,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::reference_analyse;
    use crate::analysis::tests::{acct, arb_account, arb_service, build_services, cpanel_meta};
    use crate::analysis::{analyse, analyse_threads, Analysis, AnalysisInput, BillingRef};
    use crate::module::UniqueIdField;

    /// An item by content (the optimised and the reference sort may order items that
    /// compare equal differently, which only shows in the account index).
    fn view(an: &Analysis, input: &AnalysisInput<'_>) -> Vec<String> {
        an.items
            .iter()
            .map(|it| {
                let billing = it.billing.map(|b| match b {
                    BillingRef::ThisServer(i) => ("this", input.services[i].service.id),
                    BillingRef::OtherServer(i) => ("other", input.other_live[i].service.id),
                });
                format!(
                    "{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
                    it.category,
                    it.key,
                    billing,
                    it.remote_account(input),
                    it.diffs,
                    it.actions,
                    it.notes,
                    it.related_service_ids
                )
            })
            .collect()
    }

    /// Inputs large enough for every two-thread path (keys, split index, accounts, sort from
    /// 20,000 records on), with keys colliding often (shared remote keys, duplicates, `www.`,
    /// case and trailing-dot forms, IDN): one thread, two threads and the reference agree.
    #[test]
    fn large_colliding_inputs_equal_the_reference_on_one_and_two_threads() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let forms = |rng: &mut rand_chacha::ChaCha8Rng, name: &str| -> String {
            match rng.gen_range(0..12) {
                0 => format!("www.{name}.test"),
                1 => format!("{}.TEST.", name.to_uppercase()),
                2 => format!("münchen{name}.test"),
                3 => String::new(),
                _ => format!("{name}.test"),
            }
        };
        let accounts: Vec<_> = (0..24_000)
            .map(|i| {
                let name = format!("d{}", rng.gen_range(0..20_000));
                let d = forms(&mut rng, &name);
                let mut a = acct(&d, &format!("u{}", i % 7), "basic");
                if rng.gen_ratio(1, 9) {
                    a.status = crate::module::RemoteStatus::Suspended;
                }
                if rng.gen_ratio(1, 50) {
                    a.notes.push(format!("lenient {i}"));
                }
                a
            })
            .collect();
        let raw: Vec<_> = (0..24_000)
            .map(|i| {
                let name = format!("d{}", rng.gen_range(0..22_000));
                let st = crate::model::ServiceStatus::ALL
                    [rng.gen_range(0..crate::model::ServiceStatus::ALL.len())];
                (forms(&mut rng, &name), st, i % 3 == 0)
            })
            .collect();
        let services = build_services(&raw, 1, 100);
        // Other servers' services of names that this server's billing may lack (`moved`).
        let raw_others: Vec<_> = (0..3_000)
            .map(|_| {
                let name = format!("d{}", rng.gen_range(0..20_000));
                let st = crate::model::ServiceStatus::ALL
                    [rng.gen_range(0..crate::model::ServiceStatus::ALL.len())];
                (forms(&mut rng, &name), st, false)
            })
            .collect();
        let others: Vec<_> = build_services(&raw_others, 100_000, 200)
            .into_iter()
            .filter(|r| r.service.status.is_live())
            .collect();
        let meta = cpanel_meta();
        for complete in [true, false] {
            let input = AnalysisInput {
                meta: &meta,
                server_ip: "192.0.2.10",
                accounts: &accounts,
                listing_complete: complete,
                services: &services,
                other_live: &others,
            };
            let want = reference_analyse(&input);
            assert!(want.counts.conflict > 0 && want.counts.duplicate > 0);
            assert!(want.counts.moved > 0 && want.counts.not_on_server > 0);
            for (threads, got) in [
                (1, analyse_threads(&input, 1)),
                (2, analyse_threads(&input, 2)),
            ] {
                let (g, w) = (view(&got, &input), view(&want, &input));
                assert_eq!(g.len(), w.len(), "{threads} threads: item count");
                if let Some(i) = (0..g.len()).find(|&i| g[i] != w[i]) {
                    panic!(
                        "{threads} threads, item {i}:\n got  {}\n want {}",
                        g[i], w[i]
                    );
                }
                assert_eq!(got.counts, want.counts);
                assert_eq!(got.live_services, want.live_services);
                assert_eq!(got.warnings, want.warnings);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// The optimised analysis, on one thread and split across two, equals the
        /// straightforward reference: same items (content and order), counts, live count and
        /// warnings — for the domain identifier and for a username identifier.
        #[test]
        fn optimised_analysis_equals_the_reference(
            mut accounts in prop::collection::vec(arb_account(), 0..16),
            services in prop::collection::vec(arb_service(), 0..16),
            others in prop::collection::vec(arb_service(), 0..5),
            complete in any::<bool>(),
            by_username in any::<bool>(),
            lenient in prop::collection::vec(any::<bool>(), 16),
        ) {
            for (a, l) in accounts.iter_mut().zip(&lenient) {
                if *l {
                    a.notes.push(format!("lenient read of {}", a.username));
                }
            }
            let mut meta = cpanel_meta();
            if by_username {
                meta.unique_identifier_field = UniqueIdField::Username;
                meta.unique_identifier_display_name = "Username".into();
                for a in &mut accounts {
                    a.unique_identifier = a.username.clone();
                }
            }
            let services = build_services(&services, 1, 100);
            let others: Vec<_> = build_services(&others, 1000, 200)
                .into_iter()
                .filter(|r| r.service.status.is_live())
                .collect();
            let input = AnalysisInput {
                meta: &meta,
                server_ip: "192.0.2.10",
                accounts: &accounts,
                listing_complete: complete,
                services: &services,
                other_live: &others,
            };
            let want = reference_analyse(&input);
            for got in [analyse(&input), analyse_threads(&input, 1), analyse_threads(&input, 2)] {
                prop_assert_eq!(view(&got, &input), view(&want, &input));
                prop_assert_eq!(&got.counts, &want.counts);
                prop_assert_eq!(got.live_services, want.live_services);
                prop_assert_eq!(&got.warnings, &want.warnings);
            }
        }
    }
}
