//! Each typical YAML mistake, and the words ops get for it.

use super::super::parse;

/// A small valid policy, block style, as ops write one.
const GOOD: &str = "\
listen:
  address: \"0.0.0.0:443\"
  tls:
    cert: crm.pem
    key: crm.key
upstream:
  url: \"http://10.0.0.5:8080\"
  server: iis
networks:
  office:
    - 193.167.1.0/24
groups:
  sales:
    access:
      web: [office]
  finance:
    read_only: true
users:
  alice:
    name: Alice Ng
    groups: [sales]
  bob:
    name: Bob Stone
    groups: [finance]
routes:
  - paths: [\"/billing/**\"]
    allow_groups: [finance]
";

/// GOOD with line `number` (1-based) replaced by `with`.
fn changed(edits: &[(usize, &str)]) -> String {
    let mut lines: Vec<&str> = GOOD.lines().collect();
    for (number, with) in edits {
        lines[number - 1] = with;
    }
    lines.join("\n") + "\n"
}

fn message(text: &str) -> String {
    parse(text)
        .map(|_| ())
        .expect_err("the file should be refused")
        .to_string()
}

#[test]
fn the_example_policy_is_read() {
    parse(GOOD).expect("GOOD is valid");
}

#[test]
fn a_setting_dedented_out_of_its_section_is_sent_back_under_it() {
    let err = message(&changed(&[(8, "server: iis")]));
    assert_eq!(
        err,
        "line 8: `server` is not a top-level setting; it belongs under `upstream:` (line 6). Indent it by 2 spaces, like `url` on line 7"
    );
}

#[test]
fn a_required_section_dedented_out_of_its_parent_points_at_its_own_line() {
    let err = message(&changed(&[(3, "tls:"), (4, "  cert: crm.pem"), (5, "  key: crm.key")]));
    assert_eq!(
        err,
        "line 3: `tls` belongs under `listen:` (line 1), but it is not indented under it. Indent it and the lines under it by 2 spaces, like `address` on line 2"
    );
}

#[test]
fn a_group_dedented_to_the_top_level_is_recognised_by_its_settings() {
    let err = message(&changed(&[(16, "finance:"), (17, "  read_only: true")]));
    assert_eq!(
        err,
        "line 16: `finance` is not a top-level setting. The settings under it (`read_only`) are a group's: to make it a group, move it under `groups:` (line 12). Indent it and the lines under it by 2 spaces, like `sales` on line 13"
    );
}

#[test]
fn a_user_dedented_to_the_top_level_is_recognised_by_its_settings() {
    let err = message(&changed(&[
        (22, "bob:"),
        (23, "  name: Bob Stone"),
        (24, "  groups: [finance]"),
    ]));
    assert!(
        err.starts_with(
            "line 22: `bob` is not a top-level setting. The settings under it (`name`, `groups`) are a user's"
        ),
        "{err}"
    );
    assert!(err.contains("move it under `users:` (line 18)"), "{err}");
}

#[test]
fn a_line_between_two_levels_offers_both_nearest_first() {
    let err = message(&changed(&[(21, "   groups: [sales]")]));
    assert_eq!(
        err,
        "line 21: `groups` is indented by 3 spaces, which lines it up with nothing above it. Indent it by 4 spaces to put it under `alice` (line 19), or by 2 spaces to make it a setting of `users` (line 18)"
    );
}

#[test]
fn a_line_under_an_empty_key_belongs_to_it() {
    let err = message(&changed(&[(20, " name: Alice Ng")]));
    assert_eq!(
        err,
        "line 20: `name` is indented by 1 space, which lines it up with nothing above it. Indent it by 4 spaces to put it under `alice` (line 19)"
    );
}

#[test]
fn a_line_indented_under_a_setting_that_has_a_value() {
    let err = message(&changed(&[(8, "    server: iis")]));
    assert_eq!(
        err,
        "line 8: `server` is indented further than `url` on line 7, which already has its value on that line. Line it up with `url` (2 spaces), or, if it belongs under `url`, remove the value after `url:`"
    );
}

#[test]
fn a_list_item_setting_out_of_line() {
    let err = message(&changed(&[(27, "   allow_groups: [finance]")]));
    assert_eq!(
        err,
        "line 27: `allow_groups` is indented by 3 spaces, which lines it up with nothing above it. Indent it by 4 spaces to put it in the list item on line 26, or by 2 spaces to make it a setting of `routes` (line 25)"
    );
}

#[test]
fn a_list_written_without_dashes() {
    let err = message(&changed(&[(26, "    paths: [\"/billing/**\"]")]));
    assert_eq!(err, "line 26: `routes` is a list: start each of its items with `- `");
}

#[test]
fn settings_written_as_a_list() {
    let err = message(&changed(&[
        (7, "  - url: \"http://10.0.0.5:8080\""),
        (8, "    server: iis"),
    ]));
    assert_eq!(
        err,
        "line 7: `upstream` takes settings (`name: value`), not a list: remove the `- `"
    );
}

#[test]
fn a_tab() {
    let err = message(&changed(&[(8, "\tserver: iis")]));
    assert_eq!(
        err,
        "line 8 is indented with a tab; YAML indents with spaces only: replace the tab with spaces"
    );
}

#[test]
fn a_missing_colon() {
    let err = message(&changed(&[(8, "  server iis")]));
    assert_eq!(
        err,
        "line 8 has no `:` after `server`: settings are written `name: value`, as in `server: iis`"
    );
}

#[test]
fn a_typo_is_still_a_typo() {
    let err = message(&changed(&[(2, "  adress: \"0.0.0.0:443\"")]));
    assert_eq!(
        err,
        "line 2: `adress` is not a setting of `listen`: did you mean `address`?"
    );
}

#[test]
fn flow_style_block_scalars_and_comments_do_not_confuse_the_reading() {
    let text = "\
listen:
  address: \"0.0.0.0:443\"   # all interfaces
  tls: { cert: crm.pem,
         key: crm.key }
upstream:
  url: \"http://10.0.0.5:8080\"
# a comment at the margin
users:
  alice:
    name: |
      Alice
        Ng
    groups:
    - sales
  wrong: 1
";
    let shape = super::shape::read(text, &|_, _| true);
    assert_eq!(shape.bad, None);
    let keys: Vec<(usize, String)> = shape.entries.iter().map(|e| (e.line, e.inner().join("."))).collect();
    assert_eq!(
        keys,
        [
            (1, "listen"),
            (2, "listen.address"),
            (3, "listen.tls"),
            (5, "upstream"),
            (6, "upstream.url"),
            (8, "users"),
            (9, "users.alice"),
            (10, "users.alice.name"),
            (13, "users.alice.groups"),
            (14, "users.alice.groups.-"),
            (15, "users.wrong"),
        ]
        .map(|(l, p)| (l, p.to_string()))
    );
}

#[test]
fn every_section_of_the_schema_has_settings() {
    for section in [
        "",
        "listen",
        "listen.tls",
        "upstream",
        "groups.*",
        "users.*",
        "routes.-",
        "codes.email.smtp",
        "store",
    ] {
        assert!(!super::schema::fields(section).is_empty(), "{section:?} has no fields");
    }
    assert!(super::schema::has("upstream", "server"));
    assert!(super::schema::has("store", "redis"));
}
