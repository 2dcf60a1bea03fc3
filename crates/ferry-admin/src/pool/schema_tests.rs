//! `docs/admin-api.schema.json` against what `/pool.json` really sends, through the validator
//! in `ferry_test_support::schema`.

use ferry_test_support::schema::errors;

use super::tests::sample;

#[test]
fn pool_json_matches_the_documented_schema() {
    for pool in [sample(), sample().without_secrets(), sample().only_uid(7)] {
        let value = serde_json::to_value(&pool).expect("serialize");
        assert_eq!(errors(&value), Vec::<String>::new());
    }
}

// Issue 22, refork: a group with its preloader, a re-forked template.
#[test]
fn a_preloader_matches_the_documented_schema() {
    let mut pool = sample();
    pool.groups[0].preloader = Some(crate::pool::PreloaderState {
        pid: 4242,
        idle_secs: 3,
        workers_spawned: 2,
        generation: 0,
        reforked: true,
        template_generation: 1,
    });
    let value = serde_json::to_value(&pool).expect("serialize");
    assert_eq!(errors(&value), Vec::<String>::new());
    let text = pool.to_text(false);
    assert!(
        text.contains(
            "  Preloader: PID 4242, idle 3s, 2 workers spawned, re-forked template generation 1"
        ),
        "{text}"
    );
}

#[test]
fn the_validator_catches_departures() {
    let mut value = serde_json::to_value(sample()).expect("serialize");
    value["groups"][0]["processes"][0]["life_state"] = "zombie".into();
    value["groups"][0]["queue_length"] = (-1).into();
    value["groups"][1]["extra"] = true.into();
    value["groups"][1]["processes"][0]
        .as_object_mut()
        .expect("object")
        .remove("pid");
    value["groups"][1]["processes"][0]["url"] = "ftp://x".into();
    assert_eq!(errors(&value).len(), 5, "{:?}", errors(&value));
}
