use super::sample::pairs;
use super::spec::json_string;
use super::*;
use crate::category::Category;
use crate::journey::JourneyType;

fn spec_of(page: &str) -> &str {
    let open = "<script type=\"application/json\" id=\"ferry-error-spec\">";
    let start = page.find(open).expect("spec present") + open.len();
    let len = page[start..].find("</script>").expect("spec closed");
    &page[start..start + len]
}

#[test]
fn friendly_page_shows_descriptions_journey_and_id() {
    let error = sample_error();
    let page = render_friendly(&error, "Ferry");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<title>Web application could not be started</title>"));
    assert!(page.contains(&error.problem_html()));
    assert!(page.contains(&error.solution_html()));
    assert!(page.contains(&format!("Error ID: {}", error.id())));
    assert!(page.contains("INTERNAL_ERROR"));
    assert!(page.contains("In Ferry") && page.contains("In the subprocess"));
    assert!(!page.contains("In the preloader"));
    for record in error.journey().steps() {
        assert!(page.contains(record.step.name()), "{}", record.step);
    }
}

#[test]
fn friendly_page_marks_step_states_and_highlights_the_failed_step() {
    let page = render_friendly(&sample_error(), "Ferry");
    assert!(page.contains("class=\"mark performed\""));
    assert!(page.contains("class=\"mark errored\""));
    assert!(page.contains("class=\"mark not-started\""));
    assert!(page.contains("<li class=\"step errored failed\">"));
    assert_eq!(page.matches("failed here").count(), 1);
    assert!(page.contains("1.2 s"), "duration of the failed step");
}

#[test]
fn friendly_page_escapes_output_and_environment() {
    let error = sample_error()
        .with_output("<script>alert(1)</script>\n".into())
        .with_config(pairs(&[("app_root", "</script><b>x")]));
    let page = render_friendly(&error, "Ferry");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>alert"));
    assert_eq!(page.matches("</script>").count(), 1, "only the spec's own");
    assert!(page.contains("PASSENGER_APP_ENV=development"));
    assert!(page.contains("uid=1001(shop)"));
}

#[test]
fn friendly_page_says_when_there_is_no_output() {
    let error = sample_error().with_output(String::new());
    assert!(render_friendly(&error, "Ferry").contains("(no output)"));
}

#[test]
fn preloader_column_appears_only_on_preloader_routes() {
    let journey = Journey::new(JourneyType::SpawnThroughPreloader, true, false);
    let error = SpawnError::new(Category::Io, Step::ConnectToPreloader, "x".into(), journey);
    let page = render_friendly(&error, "Ferry");
    assert!(page.contains("In the preloader"));
    assert!(page.contains("PRELOADER_FORK_SUBPROCESS"));
}

#[test]
fn spec_is_json_with_id_category_and_journey() {
    let error = sample_error();
    let page = render_friendly(&error, "Ferry");
    let spec = spec_of(&page);
    assert!(spec.starts_with('{') && spec.ends_with('}'));
    assert!(spec.contains(&format!("\"id\":\"{}\"", error.id())));
    assert!(spec.contains("\"category\":\"INTERNAL_ERROR\""));
    assert!(spec.contains("\"failed_step\":\"SUBPROCESS_APP_LOAD_OR_EXEC\""));
    assert!(spec.contains(
        "{\"step\":\"SUBPROCESS_APP_LOAD_OR_EXEC\",\"actor\":\"subprocess\",\
         \"state\":\"STEP_ERRORED\",\"duration_ms\":1207}"
    ));
    assert!(spec.contains("\"state\":\"STEP_NOT_STARTED\",\"duration_ms\":null"));
    let parsed: serde_json::Value = serde_json::from_str(spec).expect("valid JSON");
    assert_eq!(parsed["id"], error.id());
    assert_eq!(parsed["config"]["app_root"], "/srv/shop");
    assert_eq!(
        parsed["journey"].as_array().map(Vec::len),
        Some(error.journey().steps().len())
    );
}

#[test]
fn spec_survives_hostile_values() {
    let error = sample_error().with_config(pairs(&[("app_root", "</script>\"\\\n\u{2028}")]));
    let page = render_friendly(&error, "Ferry");
    let parsed: serde_json::Value = serde_json::from_str(spec_of(&page)).expect("valid JSON");
    assert_eq!(parsed["config"]["app_root"], "</script>\"\\\n\u{2028}");
}

#[test]
fn json_strings_are_escaped_and_safe_in_a_script_element() {
    assert_eq!(json_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    assert_eq!(json_string("</script>"), "\"\\u003c/script\\u003e\"");
    assert_eq!(json_string("\u{1}&"), "\"\\u0001\\u0026\"");
}

#[test]
fn terse_page_has_the_id_and_nothing_else_from_the_error() {
    let error = sample_error();
    let page = render_terse(&error, "Ferry");
    assert!(page.contains("We&#39;re sorry, but something went wrong."));
    assert!(page.contains("The issue has been logged for investigation."));
    assert!(page.contains(&format!("Error ID: {}", error.id())));
    assert!(page.contains("--friendly-error-pages"));
    assert!(page.contains("passenger_friendly_error_pages on"));
    assert!(page.contains("This website is powered by Ferry"));
    for secret in [
        "Cannot find module",
        "PASSENGER_APP_ENV",
        "uid=",
        "/srv/shop",
    ] {
        assert!(!page.contains(secret), "{secret}");
    }
    assert!(!page.contains("<script"));
}

#[test]
fn durations_read_naturally() {
    assert_eq!(format_duration(Duration::from_micros(300)), "< 1 ms");
    assert_eq!(format_duration(Duration::from_millis(12)), "12 ms");
    assert_eq!(format_duration(Duration::from_millis(1336)), "1.3 s");
    assert_eq!(format_duration(Duration::from_secs(125)), "2 min 5 s");
}

#[test]
fn the_program_name_is_escaped() {
    let page = render_terse(&sample_error(), "<Ferry>");
    assert!(page.contains("powered by &lt;Ferry&gt;"));
}
