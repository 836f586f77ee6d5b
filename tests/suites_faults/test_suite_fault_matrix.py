"""Every conformance-suite test is shown to fail against a deliberately broken device.

`FAULT_TABLE` maps each suite test (module::name[param], target part removed) to the faults
that must break it. The matrix test runs, per fault, the tests the table names for it
against an emulated device with that fault (one pytest process per fault, through the
bench plugin) and asserts that each of them failed; a completeness test asserts that no
suite test is missing from the table.

Faults: `emu:fault=...` are the emulator's (emulators/ctap/faults.py): core faults and the
CTAPHID framing faults that break the ctaphid suite; `totp:emu,fault=...` break emulated TOTP
tokens or their seed file. No fault lives on the bench side: a suite test is only proven by a
broken emulator. The `nfc` suite is proven by its owner against a broken card (tests/nfc).
The `oath` suite runs against the emulated card itself: `key emulate --vpcd --fault oath-…` in
a private pcscd (scripts/pcsc/with-emulated-card.sh: network and mount namespaces, root).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "bench" / "suites"
PARALLEL = 4  # most of a broken run is waiting for answers that never come
CARD_SCRIPT = ROOT / "scripts" / "pcsc" / "with-emulated-card.sh"
CARD_TARGET = "pcsc:Virtual PCD 00 00,control=127.0.0.1:36963"  # that script's card and control
OATH_FAULTS = (
    "oath-wrong-truncation",
    "oath-hotp-counter-stuck",
    "oath-touch-ignored",
    "oath-calculate-all-computes-hotp",
    "oath-password-ignored",
    "oath-reset-keeps-accounts",
    "oath-no-send-remaining",
    "oath-wrong-status-words",
    "oath-period-ignored",
)

TARGETS = {
    "bad-signature": "emu:fault=bad-signature",
    # the algorithms a default key does not list, on a key that lists them all
    "bad-signature@all-algorithms": "emu:profile=all-algorithms,fault=bad-signature",
    "wrong-rpid-hash@all-algorithms": "emu:profile=all-algorithms,fault=wrong-rpid-hash",
    "counter-rollback": "emu:fault=counter-rollback",
    "wrong-rpid-hash": "emu:fault=wrong-rpid-hash",
    "malformed-cbor": "emu:fault=malformed-cbor",
    "no-presence": "emu:fault=no-presence",
    "duplicate-packet": "emu:fault=duplicate-packet",
    "drop-packet": "emu:fault=drop-packet",
    "slow": "emu:fault=slow,presence=touch",
    "clone": "emu:fault=clone",
    "bad-length": "emu:fault=bad-length",
    "no-errors": "emu:fault=no-errors",
    "fixed-cid": "emu:fault=fixed-cid",
    "init-unknown-channel": "emu:fault=init-unknown-channel",
    "pin-retries-before-pin": "emu:fault=pin-retries-before-pin",
    "force-change-policy": "emu:fault=force-change-policy",
    "versions-order": "emu:fault=versions-order",
    "u2f-status": "emu:fault=u2f-status",
    "no-keepalive": "emu:fault=no-keepalive,presence=touch",
    "lax-continuation": "emu:fault=lax-continuation",
    "no-msg-timeout": "emu:fault=no-msg-timeout",
    "cancel-unknown": "emu:fault=cancel-unknown,presence=touch",
    "lenient-requests": "emu:fault=lenient-requests",
    "refuses-unknown": "emu:fault=refuses-unknown",
    "options-ignored": "emu:fault=options-ignored",
    "short-lists": "emu:fault=short-lists",
    "cred-protect-ignored": "emu:fault=cred-protect-ignored",
    "rk-not-replaced": "emu:fault=rk-not-replaced",
    "oldest-first": "emu:fault=oldest-first",
    "no-next-timer": "emu:fault=no-next-timer",
    "user-pii-without-uv": "emu:fault=user-pii-without-uv",
    "truncated-user-fields": "emu:fault=truncated-user-fields",
    "reusable-token": "emu:fault=reusable-token",
    "token-permissions-ignored": "emu:fault=token-permissions-ignored",
    "always-uv-ignored": "emu:fault=always-uv-ignored",
    "hmac-secret-one-secret": "emu:fault=hmac-secret-one-secret",
    "lax-large-blobs": "emu:fault=lax-large-blobs",
    "backup-flags": "emu:fault=backup-flags",
    # CTAP 2.2 features, on the key that claims them (a default key skips those tests)
    "hmac-secret-mc-ignored": "emu:profile=ctap22,fault=hmac-secret-mc-ignored",
    "payment-flag-ignored": "emu:profile=ctap22,fault=payment-flag-ignored",
    "pcmr-allows-writes": "emu:profile=ctap22,fault=pcmr-allows-writes",
    "pcmr-token-volatile": "emu:profile=ctap22,fault=pcmr-token-volatile",
    "preview-sign-wrong-key": "emu:profile=ctap22,fault=preview-sign-wrong-key",
    # built-in UV, on the key with a fingerprint sensor
    "uv-retries-not-decremented": "emu:profile=ctap22-bio,fault=uv-retries-not-decremented",
    "bio-enroll-ignores-permission": "emu:profile=ctap22-bio,fault=bio-enroll-ignores-permission",
    "bio-reset-keeps-enrollments": "emu:profile=ctap22-bio,fault=bio-reset-keeps-enrollments",
    "malformed-cbor@ctap22-bio": "emu:profile=ctap22-bio,fault=malformed-cbor",
    "totp-wrong-seed": "totp:emu,fault=wrong-seed",
    "totp-missing-seed": "totp:emu,fault=missing-seed",
    "totp-extra-drift": "totp:emu,fault=extra-drift",
    "totp-dead-battery": "totp:emu,fault=dead-battery",
    "totp-stuck-display": "totp:emu,fault=stuck-display",
    **{fault: CARD_TARGET for fault in OATH_FAULTS},
}

FAULT_TABLE: dict[str, tuple[str, ...]] = {
    "test_ctap2_bio_enrollment.py::test_sensor_info_describes_a_fingerprint_sensor": (
        "malformed-cbor@ctap22-bio",
    ),
    "test_ctap2_bio_enrollment.py::test_bio_enrollment_needs_the_be_permission": (
        "bio-enroll-ignores-permission",
    ),
    "test_ctap2_bio_enrollment.py::test_enroll_name_and_remove_a_finger": (
        "malformed-cbor@ctap22-bio",
    ),
    "test_ctap2_bio_enrollment.py::test_the_finger_verifies_the_user": (
        "malformed-cbor@ctap22-bio",
    ),
    "test_ctap2_bio_enrollment.py::test_a_wrong_finger_costs_uv_retries": (
        "uv-retries-not-decremented",
    ),
    "test_ctap2_bio_enrollment.py::test_reset_removes_enrolled_fingers": (
        "bio-reset-keeps-enrollments",
    ),
    "test_ctap2_preview_sign.py::test_preview_sign_esp256_signs_the_message": (
        "preview-sign-wrong-key",
    ),
    "test_ctap2_preview_sign.py::test_preview_sign_split_key_signs_the_hash": (
        "preview-sign-wrong-key",
    ),
    "test_ctap2_preview_sign.py::test_preview_sign_arkg_signs_with_the_derived_key": (
        "preview-sign-wrong-key",
    ),
    "test_ctap2_preview_sign.py::test_preview_sign_key_is_attested_and_flags_hold": (
        "preview-sign-wrong-key",
    ),
    "test_ctap2_preview_sign.py::test_preview_sign_key_handle_belongs_to_its_credential": (
        "preview-sign-wrong-key",
    ),
    "test_ctap2_backup_flags.py::test_credentials_are_device_bound": ("backup-flags",),
    "test_ctap2_ctap22.py::test_hmac_secret_mc_outputs_equal_get_assertion_outputs": (
        "hmac-secret-mc-ignored",
    ),
    "test_ctap2_ctap22.py::test_third_party_payment_is_reported_per_credential": (
        "payment-flag-ignored",
    ),
    "test_ctap2_ctap22.py::test_credential_management_lists_the_payment_flag": (
        "payment-flag-ignored",
    ),
    "test_ctap2_ctap22.py::test_persistent_token_reads_never_writes_and_outlives_a_power_cycle": (
        "pcmr-allows-writes",
        "pcmr-token-volatile",
    ),
    "test_ctap2_client_pin.py::test_bad_pin_uv_auth_param_is_refused[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_bad_pin_uv_auth_param_is_refused[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_change_pin[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_change_pin[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_discoverable_credential_needs_the_pin": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_pin_blocks_after_eight_failures[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_pin_blocks_after_eight_failures[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_set_pin_then_token_gives_uv[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_set_pin_then_token_gives_uv[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_set_pin_twice_is_not_allowed[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_set_pin_twice_is_not_allowed[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_short_pin_is_a_policy_violation[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_short_pin_is_a_policy_violation[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_token_is_bound_to_its_rp_id[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_token_is_bound_to_its_rp_id[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_token_without_permission_is_refused[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_token_without_permission_is_refused[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_wrong_pin_retries_and_power_cycle_rule[2]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_client_pin.py::test_wrong_pin_retries_and_power_cycle_rule[pinUvAuthProtocol1]": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_credentials.py::test_algorithms_claimed_in_get_info_work[ES256]": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_ctap2_credentials.py::test_algorithms_claimed_in_get_info_work[EdDSA]": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    **{
        f"test_ctap2_credentials.py::test_algorithms_claimed_in_get_info_work[{name}]": (
            "bad-signature@all-algorithms",
            "wrong-rpid-hash@all-algorithms",
        )
        for name in [
            "ES384",
            "ES512",
            "ES256K",
            "RS256",
            "PS256",
            "ML-DSA-44",
            "ML-DSA-65",
            "ML-DSA-87",
        ]
    },
    "test_ctap2_credentials.py::test_discoverable_credentials_and_get_next_assertion": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_ctap2_credentials.py::test_exclude_list_refuses_a_known_credential": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_first_supported_algorithm_is_chosen": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_get_assertion_missing_parameter[cdh]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_get_assertion_missing_parameter[rpId]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_get_assertion_signature_and_counter": (
        "bad-signature",
        "counter-rollback",
        "clone",
    ),
    "test_ctap2_credentials.py::test_get_assertion_unknown_credential": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_answer_is_canonical_cbor": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_get_assertion_wrong_rp_has_no_credentials": (
        "malformed-cbor",
    ),
    "test_ctap2_credentials.py::test_get_next_assertion_without_state": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_attestation_verifies": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_ctap2_credentials.py::test_make_credential_missing_parameter[cdh]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_missing_parameter[params]": (
        "malformed-cbor",
    ),
    "test_ctap2_credentials.py::test_make_credential_missing_parameter[rp]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_missing_parameter[user]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_up_false_is_invalid_option": (
        "malformed-cbor",
    ),
    "test_ctap2_credentials.py::test_make_credential_wrong_type[cdh]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_wrong_type[params]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_wrong_type[rp]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_make_credential_wrong_type[user]": ("malformed-cbor",),
    "test_ctap2_credentials.py::test_silent_assertion_has_no_up_flag": (
        "bad-signature",
        "malformed-cbor",
    ),
    "test_ctap2_credentials.py::test_unsupported_algorithm": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_cred_blob": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_cred_blob_too_long_is_not_stored": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_cred_protect_optional_with_list": ("cred-protect-ignored",),
    "test_ctap2_extensions.py::test_cred_protect_uv_required_hides_the_credential": (
        "cred-protect-ignored",
    ),
    "test_ctap2_extensions.py::test_hmac_secret[2]": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_hmac_secret[pinUvAuthProtocol1]": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_hmac_secret_bad_salt_auth": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_large_blob_key": ("malformed-cbor",),
    "test_ctap2_extensions.py::test_large_blob_key_needs_rk": ("options-ignored",),
    "test_ctap2_extensions.py::test_min_pin_length_extension": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_info.py::test_get_info_is_canonical_cbor": ("malformed-cbor",),
    "test_ctap2_info.py::test_get_info_is_consistent": ("malformed-cbor",),
    "test_ctap2_info.py::test_get_info_required_members": ("malformed-cbor",),
    "test_ctap2_management.py::test_config_min_pin_length_and_force_change": (
        "no-presence",
        "malformed-cbor",
        "force-change-policy",
    ),
    "test_ctap2_deployed_answers.py::test_versions_list_u2f_first_then_fido_ascending": (
        "versions-order",
    ),
    "test_ctap2_deployed_answers.py::test_pin_retries_are_not_set_before_a_pin_is": (
        "pin-retries-before-pin",
    ),
    "test_ctap2_config.py::test_always_uv_makes_get_assertion_need_uv": ("always-uv-ignored",),
    "test_ctap2_config.py::test_always_uv_makes_make_credential_need_uv": ("always-uv-ignored",),
    "test_ctap2_config.py::test_config_needs_the_acfg_permission": ("token-permissions-ignored",),
    "test_ctap2_credentials.py::test_assertion_from_an_allow_list_carries_nothing_else": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_ctap2_credentials.py::test_rk_for_the_same_user_replaces_the_old_one": (
        "rk-not-replaced",
    ),
    "test_ctap2_credentials.py::test_discovered_credentials_come_newest_first": ("oldest-first",),
    "test_ctap2_credentials.py::test_discovered_user_without_uv_is_its_id_only": (
        "user-pii-without-uv",
    ),
    "test_ctap2_credentials.py::test_full_allow_list_reaches_its_last_entry": ("short-lists",),
    "test_ctap2_credentials.py::test_full_exclude_list_reaches_its_last_entry": ("short-lists",),
    "test_ctap2_credentials.py::test_get_next_assertion_times_out_after_30_s": ("no-next-timer",),
    "test_ctap2_credentials.py::test_make_credential_up_true_is_the_default": ("no-presence",),
    "test_ctap2_credentials.py::test_rk_option_is_refused_by_get_assertion": ("options-ignored",),
    "test_ctap2_credentials.py::test_uv_option_without_built_in_uv_is_refused[ga]": (
        "options-ignored",
    ),
    "test_ctap2_credentials.py::test_uv_option_without_built_in_uv_is_refused[mc]": (
        "options-ignored",
    ),
    "test_ctap2_extensions.py::test_hmac_secret_differs_with_uv": ("hmac-secret-one-secret",),
    "test_ctap2_extensions.py::test_hmac_secret_input_missing_a_member[keyAgreement]": (
        "lenient-requests",
    ),
    "test_ctap2_extensions.py::test_hmac_secret_input_missing_a_member[saltAuth]": (
        "lenient-requests",
    ),
    "test_ctap2_extensions.py::test_hmac_secret_input_missing_a_member[saltEnc]": (
        "lenient-requests",
    ),
    "test_ctap2_extensions.py::test_hmac_secret_salt_of_wrong_length[16-bytes]": (
        "lenient-requests",
    ),
    "test_ctap2_extensions.py::test_hmac_secret_salt_of_wrong_length[96-bytes]": (
        "lenient-requests",
    ),
    "test_ctap2_extensions.py::test_hmac_secret_two_salts[2]": ("lenient-requests",),
    "test_ctap2_extensions.py::test_hmac_secret_two_salts[pinUvAuthProtocol1]": (
        "lenient-requests",
    ),
    "test_ctap2_extensions.py::test_protected_credential_is_discovered_only_with_uv[level2]": (
        "cred-protect-ignored",
    ),
    "test_ctap2_extensions.py::test_protected_credential_is_discovered_only_with_uv[level3]": (
        "cred-protect-ignored",
    ),
    "test_ctap2_extensions.py::test_uv_required_credential_does_not_exclude_without_uv": (
        "cred-protect-ignored",
    ),
    "test_ctap2_large_blobs.py::test_array_size_is_bounded_by_max_serialized_large_blob_array": (
        "lax-large-blobs",
    ),
    "test_ctap2_large_blobs.py::test_fragment_longer_than_max_fragment_is_refused": (
        "lax-large-blobs",
    ),
    "test_ctap2_large_blobs.py::test_fragment_out_of_sequence_is_refused": ("lax-large-blobs",),
    "test_ctap2_large_blobs.py::test_more_data_than_announced_is_refused": ("lax-large-blobs",),
    "test_ctap2_large_blobs.py::test_read_longer_than_max_fragment_is_refused": (
        "lax-large-blobs",
    ),
    "test_ctap2_large_blobs.py::test_read_past_the_end_is_refused": ("lax-large-blobs",),
    "test_ctap2_large_blobs.py::test_write_needs_the_lbw_permission": (
        "token-permissions-ignored",
    ),
    "test_ctap2_large_blobs.py::test_write_with_a_wrong_checksum_is_refused": ("lax-large-blobs",),
    "test_ctap2_management.py::test_enumeration_reports_cred_protect[level2]": (
        "cred-protect-ignored",
    ),
    "test_ctap2_management.py::test_enumeration_reports_cred_protect[level3]": (
        "cred-protect-ignored",
    ),
    "test_ctap2_management.py::test_replaced_discoverable_credential_is_listed_once": (
        "rk-not-replaced",
    ),
    "test_ctap2_management.py::test_rp_bound_token_cannot_span_all_rps[enumerateRPs]": (
        "token-permissions-ignored",
    ),
    "test_ctap2_management.py::test_rp_bound_token_cannot_span_all_rps[getCredsMetadata]": (
        "token-permissions-ignored",
    ),
    "test_ctap2_management.py::test_rp_bound_token_reaches_its_rp_only": (
        "token-permissions-ignored",
    ),
    "test_ctap2_management.py::test_user_names_of_64_bytes_are_kept_whole": (
        "truncated-user-fields",
    ),
    "test_ctap2_parameters.py::test_allow_list_ignores_descriptors_of_other_types": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_exclude_list_ignores_descriptors_of_other_types": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_entry_missing_a_member[allowList.id]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_entry_missing_a_member[allowList.type]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_ignores_unknown[extension]": ("refuses-unknown",),
    "test_ctap2_parameters.py::test_get_assertion_ignores_unknown[member]": ("refuses-unknown",),
    "test_ctap2_parameters.py::test_get_assertion_ignores_unknown[option]": ("refuses-unknown",),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[allowList-entry]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[allowList.id]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[allowList.type]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[allowList]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[clientDataHash]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[extensions]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[option-value]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[options]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[pinUvAuthParam]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[pinUvAuthProtocol]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_get_assertion_member_of_wrong_type[rpId]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_entry_missing_a_member[excludeList.id]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_entry_missing_a_member[excludeList.type]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_entry_missing_a_member[params.alg]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_entry_missing_a_member[params.type]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_ignores_unknown[extension]": (
        "refuses-unknown",
    ),
    "test_ctap2_parameters.py::test_make_credential_ignores_unknown[member]": ("refuses-unknown",),
    "test_ctap2_parameters.py::test_make_credential_ignores_unknown[option]": ("refuses-unknown",),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[excludeList-entry]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[excludeList.id]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[excludeList.type]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[excludeList]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[extensions]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[option-value]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[options]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[pinUvAuthParam]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[pinUvAuthProtocol]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[params-entry]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[params.alg]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[params.type]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[rp.id]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[rp.name]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[user.displayName]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[user.id]": (
        "lenient-requests",
    ),
    "test_ctap2_parameters.py::test_make_credential_member_of_wrong_type[user.name]": (
        "lenient-requests",
    ),
    "test_ctap2_pin_uv_auth.py::test_a_ceremony_spends_the_token[ga]": ("reusable-token",),
    "test_ctap2_pin_uv_auth.py::test_a_ceremony_spends_the_token[mc]": ("reusable-token",),
    "test_ctap2_pin_uv_auth.py::test_pin_uv_auth_param_with_an_unknown_protocol[ga]": (
        "lenient-requests",
    ),
    "test_ctap2_pin_uv_auth.py::test_pin_uv_auth_param_with_an_unknown_protocol[mc]": (
        "lenient-requests",
    ),
    "test_ctap2_pin_uv_auth.py::test_pin_uv_auth_param_without_its_protocol[ga]": (
        "lenient-requests",
    ),
    "test_ctap2_pin_uv_auth.py::test_pin_uv_auth_param_without_its_protocol[mc]": (
        "lenient-requests",
    ),
    "test_ctap2_pin_uv_auth.py::test_user_entity_after_uv_comes_back_whole_at_maximum_sizes": (
        "truncated-user-fields",
    ),
    "test_ctap2_pin_uv_auth.py::test_zero_length_pin_uv_auth_param_asks_whether_a_pin_is_set[ga]": (
        "lenient-requests",
    ),
    "test_ctap2_pin_uv_auth.py::test_zero_length_pin_uv_auth_param_asks_whether_a_pin_is_set[mc]": (
        "lenient-requests",
    ),
    "test_ctaphid_framing.py::test_init_on_a_never_allocated_channel_answers_on_it": (
        "init-unknown-channel",
    ),
    "test_ctap2_management.py::test_config_min_pin_length_cannot_decrease": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_management.py::test_credential_management_lists_and_deletes": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_management.py::test_credential_management_needs_cm_permission": (
        "token-permissions-ignored",
    ),
    "test_ctap2_management.py::test_credential_management_updates_user": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_management.py::test_large_blob_write_needs_a_token": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_management.py::test_large_blobs_round_trip": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_management.py::test_reset_only_within_10_s_of_power_up": ("malformed-cbor",),
    "test_ctap2_management.py::test_reset_removes_credentials": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctap2_management.py::test_selection": (
        "no-presence",
        "malformed-cbor",
    ),
    "test_ctaphid_framing.py::test_capabilities_match_the_commands": ("bad-length",),
    "test_ctaphid_framing.py::test_init_allocates_a_channel": ("bad-length",),
    "test_ctaphid_framing.py::test_init_allocates_distinct_channels": ("fixed-cid",),
    "test_ctaphid_framing.py::test_init_on_allocated_channel_resynchronises": ("bad-length",),
    "test_ctaphid_framing.py::test_invalid_channel[unallocated]": ("no-errors",),
    "test_ctaphid_framing.py::test_invalid_channel[zero]": ("no-errors",),
    "test_ctaphid_framing.py::test_lock_keeps_other_channels_out": ("no-errors",),
    "test_ctaphid_framing.py::test_other_channel_is_busy_during_a_transaction": ("no-errors",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[0]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[1024]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[1059]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[116]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[117]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[1]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[56]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[57]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[58]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[7551]": (
        "bad-length",
        "drop-packet",
        "duplicate-packet",
    ),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[7608]": ("bad-length",),
    "test_ctaphid_framing.py::test_ping_echoes_every_size[7609]": (
        "bad-length",
        "drop-packet",
        "duplicate-packet",
    ),
    "test_ctaphid_framing.py::test_spurious_continuation_is_ignored": ("bad-length",),
    "test_ctaphid_framing.py::test_wink": ("bad-length",),
    "test_ctaphid_framing.py::test_init_is_answered_while_another_channel_is_mid_message": (
        "bad-length",
    ),
    "test_ctaphid_framing.py::test_init_with_wrong_nonce_length_is_invalid_len[0]": ("no-errors",),
    "test_ctaphid_framing.py::test_init_with_wrong_nonce_length_is_invalid_len[5]": ("no-errors",),
    "test_ctaphid_framing.py::test_init_with_wrong_nonce_length_is_invalid_len[9]": ("no-errors",),
    "test_ctaphid_framing.py::test_message_longer_than_7609_is_invalid_len[7610]": ("no-errors",),
    "test_ctaphid_framing.py::test_message_longer_than_7609_is_invalid_len[65535]": ("no-errors",),
    "test_ctaphid_framing.py::test_bytes_beyond_bcnt_are_ignored[init]": ("bad-length",),
    "test_ctaphid_framing.py::test_bytes_beyond_bcnt_are_ignored[continuation]": ("bad-length",),
    "test_ctaphid_framing.py::test_continuation_out_of_sequence_is_invalid_seq[skips-first]": (
        "lax-continuation",
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_continuation_out_of_sequence_is_invalid_seq[skips-one]": (
        "lax-continuation",
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_continuation_out_of_sequence_is_invalid_seq[repeats]": (
        "lax-continuation",
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_new_message_before_the_last_one_is_complete_is_invalid_seq": (
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_continuation_from_another_channel_does_not_join_the_message": (
        "lax-continuation",
    ),
    "test_ctaphid_framing.py::test_unfinished_message_times_out[init]": (
        "no-msg-timeout",
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_unfinished_message_times_out[continuation]": (
        "no-msg-timeout",
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_timed_out_message_frees_the_key_for_other_channels": (
        "no-msg-timeout",
        "no-errors",
    ),
    "test_ctaphid_framing.py::test_invalid_channel[broadcast]": ("no-errors",),
    "test_ctaphid_framing.py::test_invalid_channel[zero-init]": ("no-errors",),
    "test_ctaphid_framing.py::test_unknown_command_is_invalid_cmd[0x02]": ("no-errors",),
    "test_ctaphid_framing.py::test_unknown_command_is_invalid_cmd[0x2a]": ("no-errors",),
    "test_ctaphid_framing.py::test_unknown_command_is_invalid_cmd[keepalive]": ("no-errors",),
    "test_ctaphid_framing.py::test_unknown_command_is_invalid_cmd[error]": ("no-errors",),
    "test_ctaphid_framing.py::test_cbor_without_a_command_byte_is_invalid_len": ("no-errors",),
    "test_ctaphid_framing.py::test_empty_u2f_message_is_refused": ("u2f-status",),
    "test_ctaphid_framing.py::test_lock_cannot_be_taken_by_another_channel": ("no-errors",),
    "test_ctaphid_framing.py::test_lock_expires_by_itself": ("no-errors",),
    "test_ctaphid_framing.py::test_lock_longer_than_10_seconds_is_invalid_par[11]": ("no-errors",),
    "test_ctaphid_framing.py::test_lock_longer_than_10_seconds_is_invalid_par[255]": ("no-errors",),
    "test_ctaphid_keepalive.py::test_cancel_alone_is_not_answered": (
        "bad-length",
        "cancel-unknown",
    ),
    "test_ctaphid_keepalive.py::test_keepalive_then_cancel_while_waiting_for_the_user": (
        "no-keepalive",
        "cancel-unknown",
    ),
    "test_ctaphid_keepalive.py::test_cancel_from_another_channel_mid_message_is_not_answered": (
        "cancel-unknown",
    ),
    "test_ctaphid_keepalive.py::test_prompt_request_answers_without_keepalive[getinfo]": ("slow",),
    "test_ctaphid_keepalive.py::test_prompt_request_answers_without_keepalive[u2f-version]": (
        "slow",
    ),
    "test_oath_admin.py::test_password_set_validate_clear": (
        "oath-password-ignored",
        "oath-wrong-status-words",
    ),
    "test_oath_admin.py::test_reset_forgets_accounts_and_password": ("oath-reset-keeps-accounts",),
    "test_oath_admin.py::test_reset_needs_de_ad": ("oath-wrong-status-words",),
    "test_oath_admin.py::test_validate_without_a_password_is_refused": ("oath-wrong-status-words",),
    "test_oath_admin.py::test_wrong_password_unlocks_nothing": (
        "oath-password-ignored",
        "oath-wrong-status-words",
    ),
    "test_oath_applet.py::test_capacity_until_no_space": (
        "oath-wrong-status-words",
        "oath-no-send-remaining",
    ),
    "test_oath_applet.py::test_long_answers_chain_with_send_remaining": ("oath-no-send-remaining",),
    "test_oath_applet.py::test_put_list_delete": ("oath-wrong-status-words",),
    "test_oath_applet.py::test_put_same_name_replaces": ("oath-wrong-truncation",),
    "test_oath_applet.py::test_rename": ("oath-wrong-status-words", "oath-wrong-truncation"),
    "test_oath_applet.py::test_status_words[calculate-unknown]": ("oath-wrong-status-words",),
    "test_oath_applet.py::test_status_words[delete-unknown]": ("oath-wrong-status-words",),
    "test_oath_applet.py::test_status_words[put-without-key]": ("oath-wrong-status-words",),
    "test_oath_applet.py::test_status_words[put-without-name]": ("oath-wrong-status-words",),
    "test_oath_applet.py::test_status_words[unknown-instruction]": ("oath-wrong-status-words",),
    "test_oath_applet.py::test_status_words[list-with-p1]": ("oath-wrong-status-words",),
    "test_oath_calculate.py::test_calculate_all_computes_totp_only": (
        "oath-touch-ignored",
        "oath-calculate-all-computes-hotp",
        "oath-wrong-truncation",
    ),
    "test_oath_calculate.py::test_full_response_and_truncation[6]": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_full_response_and_truncation[7]": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_full_response_and_truncation[8]": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_hotp_initial_moving_factor": (
        "oath-hotp-counter-stuck",
        "oath-wrong-truncation",
    ),
    "test_oath_calculate.py::test_period_in_the_name[15]": (
        "oath-period-ignored",
        "oath-wrong-truncation",
    ),
    "test_oath_calculate.py::test_period_in_the_name[60]": (
        "oath-period-ignored",
        "oath-wrong-truncation",
    ),
    "test_oath_calculate.py::test_rfc4226_hotp_counter_moves": (
        "oath-hotp-counter-stuck",
        "oath-wrong-truncation",
    ),
    "test_oath_calculate.py::test_rfc6238_vectors[SHA1]": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_rfc6238_vectors[SHA256]": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_rfc6238_vectors[SHA512]": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_touch_required_account": ("oath-wrong-truncation",),
    "test_oath_calculate.py::test_touch_account_without_touch_is_refused": (
        "oath-touch-ignored",
        "oath-wrong-status-words",
    ),
    "test_totp_tokens.py::test_codes_match_the_seed": (
        "totp-wrong-seed",
        "totp-missing-seed",
    ),
    "test_totp_tokens.py::test_display_lights_and_goes_blank": (
        "totp-missing-seed",
        "totp-dead-battery",
    ),
    "test_totp_tokens.py::test_drift_within_tolerance": (
        "totp-wrong-seed",
        "totp-missing-seed",
    ),
    "test_totp_tokens.py::test_every_token_has_a_seed": ("totp-missing-seed",),
    "test_totp_tokens.py::test_next_period_shows_the_next_code": (
        "totp-wrong-seed",
        "totp-missing-seed",
    ),
    "test_u2f_ctap1.py::test_authenticate_check_only": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_u2f_ctap1.py::test_authenticate_dont_enforce_presence": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_u2f_ctap1.py::test_authenticate_enforce_presence": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_u2f_ctap1.py::test_bad_class_byte": ("u2f-status",),
    "test_u2f_ctap1.py::test_counter_increases": (
        "bad-signature",
        "counter-rollback",
        "clone",
    ),
    "test_u2f_ctap1.py::test_register_attestation_verifies": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_u2f_ctap1.py::test_u2f_credential_works_through_ctap2": (
        "bad-signature",
        "wrong-rpid-hash",
    ),
    "test_u2f_ctap1.py::test_version": ("u2f-status",),
    "test_u2f_ctap1.py::test_wrong_key_handle[check]": ("u2f-status",),
    "test_u2f_ctap1.py::test_wrong_key_handle[enforce]": ("u2f-status",),
    "test_u2f_ctap1.py::test_version_in_extended_encoding_without_data": ("u2f-status",),
    "test_u2f_ctap1.py::test_registrations_are_distinct": (
        "bad-signature",
        "u2f-status",
    ),
    "test_u2f_ctap1.py::test_register_with_wrong_data_length[0]": ("u2f-status",),
    "test_u2f_ctap1.py::test_register_with_wrong_data_length[63]": ("u2f-status",),
    "test_u2f_ctap1.py::test_register_with_wrong_data_length[65]": ("u2f-status",),
    "test_u2f_ctap1.py::test_wrong_key_handle[silent]": ("u2f-status",),
    "test_u2f_ctap1.py::test_unknown_key_handle_of_any_size[0]": ("u2f-status",),
    "test_u2f_ctap1.py::test_unknown_key_handle_of_any_size[1]": ("u2f-status",),
    "test_u2f_ctap1.py::test_unknown_key_handle_of_any_size[255]": ("u2f-status",),
    "test_u2f_ctap1.py::test_altered_key_handle[flipped-check]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_altered_key_handle[flipped-enforce]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_altered_key_handle[truncated-check]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_altered_key_handle[truncated-enforce]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_altered_key_handle[extended-check]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_altered_key_handle[extended-enforce]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_wrong_application_parameter[check]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_wrong_application_parameter[enforce]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_authenticate_with_inconsistent_length[no-length-byte]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_authenticate_with_inconsistent_length[length-overstated]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_authenticate_with_inconsistent_length[length-understated]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_authenticate_with_unknown_control_byte[0]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_authenticate_with_unknown_control_byte[5]": (
        "u2f-status",
        "bad-signature",
    ),
    "test_u2f_ctap1.py::test_unknown_instruction[0x00]": ("u2f-status",),
    "test_u2f_ctap1.py::test_unknown_instruction[0x04]": ("u2f-status",),
    "test_u2f_ctap1.py::test_unknown_instruction[0x55]": ("u2f-status",),
    "test_u2f_ctap1.py::test_ctap2_credential_works_through_u2f": (
        "bad-signature",
        "wrong-rpid-hash",
        "u2f-status",
    ),
    "test_verifier_e2e.py::test_iam_rules_for_a_token": (
        "totp-wrong-seed",
        "totp-extra-drift",
    ),
    "test_verifier_e2e.py::test_security_key_registers_and_signs_in": (
        "bad-signature",
        "counter-rollback",
        "clone",
    ),
    "test_verifier_e2e.py::test_token_enables_signs_in_and_refuses_replay": (
        "totp-wrong-seed",
        "totp-extra-drift",
    ),
    "test_verifier_e2e.py::test_token_resyncs_after_drift": (
        "totp-wrong-seed",
        "totp-extra-drift",
    ),
}


def node_id(name: str, target: str) -> str:
    """'test_x.py::test_y[p]' + 'emu:' -> the pytest node id of that test for that target."""
    module, _, test = name.partition("::")
    if test.endswith("]"):
        base, param = test[:-1].split("[", 1)
        test = f"{base}[{target}-{param}]"
    else:
        test = f"{test}[{target}]"
    return f"{SUITES / module}::{test}"


def table_name(nodeid: str, target: str) -> str:
    """The inverse of `node_id`: a node id (any form) -> the table's name of the test."""
    module_path, _, test = nodeid.partition("::")
    test = test.replace(f"[{target}-", "[").replace(f"[{target}]", "")
    return f"{Path(module_path).name}::{test}"


def run_fault(fault: str, names: list[str], workdir: Path) -> dict[str, str]:
    """Run the named suite tests against the broken target; name -> outcome."""
    target = TARGETS[fault]
    results = workdir / f"{fault}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *[node_id(n, target) for n in names],
        "--target",
        target,
        "--allow-destructive",
        "--bench-json",
        str(results),
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    if target == CARD_TARGET:  # the broken card in its own pcscd, touched through its control
        command = [str(CARD_SCRIPT), "--fault", fault, "--presence", "touch", "--", *command]
    subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=False)
    if not results.exists():
        return {}
    tests = json.loads(results.read_text())["tests"]
    return {table_name(t["nodeid"], target): t["outcome"] for t in tests}


def collected_suite_tests() -> set[str]:
    """Every suite test the bench runs against emulated keys and tokens (nfc excluded; the
    card target is only collected, for the oath suite)."""
    targets = ("emu:", "totp:emu", CARD_TARGET)
    command = [sys.executable, "-m", "pytest", "--pyargs", "tokenbench.bench.suites", "--co", "-q"]
    for target in targets:
        command += ["--target", target]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    names = set()
    for line in out.stdout.splitlines():
        if "::" not in line or "test_nfc" in line:
            continue
        if CARD_TARGET in line and "test_oath_" not in line:
            continue
        name = line.strip()
        for target in targets:
            name = name.replace(f"[{target}-", "[").replace(f"[{target}]", "")
        names.add(f"{Path(name.partition('::')[0]).name}::{name.partition('::')[2]}")
    return names


def faults_to_tests() -> dict[str, list[str]]:
    by_fault: dict[str, list[str]] = defaultdict(list)
    for name, faults in FAULT_TABLE.items():
        for fault in faults:
            by_fault[fault].append(name)
    return by_fault


def test_table_covers_every_suite_test():
    collected = collected_suite_tests()
    assert len(collected) > 100, f"collected only {len(collected)} suite tests"
    missing = sorted(collected - set(FAULT_TABLE))
    assert not missing, f"suite tests no fault is shown to break: {missing}"
    stale = sorted(set(FAULT_TABLE) - collected)
    assert not stale, f"table names tests that no longer exist: {stale}"
    assert all(FAULT_TABLE.values()), "a table entry lists no fault"
    assert set(faults_to_tests()) <= set(TARGETS), "a table entry names an unknown fault"


@pytest.mark.slow
def test_every_suite_test_fails_under_its_faults(tmp_path):
    by_fault = faults_to_tests()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        outcomes = dict(
            zip(
                by_fault,
                pool.map(lambda f: run_fault(f, by_fault[f], tmp_path), by_fault),
                strict=True,
            )
        )
    survivors = []
    for fault, names in by_fault.items():
        for name in names:
            outcome = outcomes[fault].get(name, "not run")
            if outcome not in ("failed", "error"):
                survivors.append(f"{name} under {fault}: {outcome}")
    assert not survivors, "tests that did not fail under their fault:\n" + "\n".join(survivors)


def test_every_emulator_fault_breaks_some_suite_test():
    from tokenbench.emulators.ctap.faults import Fault

    used = set(faults_to_tests())
    missing = [fault.value for fault in Fault if fault.value not in used]
    assert not missing, f"emulator faults no suite test is shown to detect: {missing}"
