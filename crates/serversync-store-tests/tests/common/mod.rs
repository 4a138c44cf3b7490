//! What the PostgreSQL and SQLite test binaries share: the list of the suite's tests that
//! take one store.

/// Calls `$suite!(test, …)` with every test of `serversync_store_tests` that runs on one
/// store of its own, so that both backends run the same list.
macro_rules! each_store_test {
    ($suite:ident) => {
        $suite!(
            setup_token_makes_exactly_one_first_admin,
            import_keeps_ids_and_is_idempotent,
            import_changed_rows_bump_version,
            import_empty_secret_keeps_stored,
            import_refuses_bad_documents,
            server_lookup_by_name_or_id,
            live_services_of_module,
            bulk_reads_return_every_column_as_written,
            client_emails_are_every_clients_email,
            apply_creates_with_refs_and_audits,
            apply_refuses_bad_refs,
            apply_version_conflict_rolls_back,
            runs_round_trip,
            runs_summaries_and_latest,
            recent_runs_are_the_newest_per_server,
            runs_prune_keeps_applied_and_latest_complete,
            runs_prune_keeps_the_newest_complete_runs,
            compact_runs_read_back_whole,
            audit_filters,
            lease_busy_expiry_renew_release,
            lease_of_a_gone_process_is_taken_over,
            change_set_under_a_lost_lease_writes_nothing,
            import_refuses_a_second_live_service_per_key,
            records_import_refuses_a_live_duplicate_it_does_not_contain,
            writes_and_their_audit_are_one_transaction,
            users_create_lookup_and_refuse_duplicates,
            sessions_live_expired_deleted,
            sign_in_failures_count_expire_and_clear,
            run_selection_per_run_and_user,
            api_tokens_create_lookup_and_refuse_duplicates,
            save_server_insert_update_keep_secrets,
            save_product_insert_update,
            audit_query_filters_pages_and_counts,
            jobs_one_running_progress_finish,
            jobs_of_a_stopped_instance_fail_and_free_the_server,
            jobs_concurrent_starts_make_one_job,
            jobs_finished_beyond_the_kept_number_are_pruned,
            misses_present_absent_present_count_1_then_0,
            misses_three_absent_count_3,
            misses_failed_between_unchanged,
            misses_of_terminated_services_drop_out,
            misses_of_a_service_counted_elsewhere_start_again,
            deliveries_log_attempts_newest_first,
            deliveries_claims_are_won_once,
            deliveries_stale_claims_are_taken_over_unless_delivered,
        );
    };
}
