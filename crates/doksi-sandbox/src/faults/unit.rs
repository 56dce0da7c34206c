//! Fault specs in and out of text and JSON, the routes requests map to, and the plan's order.

use super::*;

fn spec(route: Route, fault: Fault, count: u32) -> FaultSpec {
    FaultSpec {
        route,
        fault,
        count,
    }
}

#[test]
fn fault_specs_parse_with_their_counts_and_print_back() {
    let cases = [
        ("POST /runs=503x2", spec(Route::Runs, Fault::Status(503), 2)),
        (
            "PUT /uploads=reset-mid-body",
            spec(Route::Put, Fault::ResetMidBody, 1),
        ),
        (
            "GET /runs=429:2x3",
            spec(
                Route::GetRun,
                Fault::TooMany {
                    retry_after_secs: 2,
                },
                3,
            ),
        ),
        (
            "POST /uploads=429",
            spec(
                Route::Uploads,
                Fault::TooMany {
                    retry_after_secs: 1,
                },
                1,
            ),
        ),
        (
            "POST /targets=502-html",
            spec(Route::Targets, Fault::HtmlBadGateway, 1),
        ),
        ("PUT /uploads=expire", spec(Route::Put, Fault::Expire, 1)),
        ("PUT /uploads=expirex4", spec(Route::Put, Fault::Expire, 4)),
        ("GET /runs=404", spec(Route::GetRun, Fault::NotFound, 1)),
        ("POST /runs=reset", spec(Route::Runs, Fault::Reset, 1)),
        (
            "POST /runs=stall-after-create",
            spec(Route::Runs, Fault::StallAfterCreate, 1),
        ),
        (
            "POST /runs=serve-then-504x5",
            spec(Route::Runs, Fault::ServeThen(504), 5),
        ),
        (
            "POST /runs=reset-after-createx2",
            spec(Route::Runs, Fault::ResetAfterCreate, 2),
        ),
        (
            "GET /runs=truncate",
            spec(Route::GetRun, Fault::Truncate, 1),
        ),
        (
            "POST /uploads=not-json",
            spec(Route::Uploads, Fault::NotJson, 1),
        ),
        ("POST /runs=500", spec(Route::Runs, Fault::Status(500), 1)),
        ("POST /runs=504", spec(Route::Runs, Fault::Status(504), 1)),
    ];
    for (text, want) in cases {
        let got: FaultSpec = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, want, "{text}");
        assert_eq!(got.to_string(), text, "prints back as written");
    }
}

#[test]
fn fault_specs_forgive_case_and_spaces_and_the_docs_route_form() {
    let got: FaultSpec = "get /runs/{id} = 503 x2".parse().unwrap();
    assert_eq!(got, spec(Route::GetRun, Fault::Status(503), 2));
    assert_eq!(got.to_string(), "GET /runs=503x2");
}

#[test]
fn bad_fault_specs_name_the_part_at_fault() {
    let cases = [
        ("POST /runs 503", "has no `=`"),
        (
            "POST /runz=503",
            "unknown route \"POST /runz\": want one of POST /uploads",
        ),
        ("DELETE /runs=503", "unknown route \"DELETE /runs\""),
        ("/runs=503", "unknown route \"/runs\""),
        (
            "POST /runs=bogus",
            "unknown fault \"bogus\": want 429[:SECS]",
        ),
        ("POST /runs=600", "unknown fault \"600\""),
        ("POST /runs=302", "unknown fault \"302\""),
        ("POST /runs=", "unknown fault \"\""),
        ("POST /runs=50xx2", "unknown fault \"50x\""),
        ("POST /runs=429:soon", "bad Retry-After \"soon\""),
        ("POST /runs=429:-1x2", "bad Retry-After \"-1\""),
        ("POST /runs=503x0", "bad count \"0\""),
        ("POST /runs=503x", "bad count \"\""),
        ("POST /runs=503xtwo", "bad count \"two\""),
        ("POST /runs=503x99999999999", "bad count \"99999999999\""),
        (
            "POST /runs=404",
            "fault 404 applies to GET /runs only, not to POST /runs",
        ),
        (
            "POST /uploads=expire",
            "fault expire applies to PUT /uploads only, not to POST /uploads",
        ),
        (
            "GET /runs=reset-mid-body",
            "fault reset-mid-body applies to PUT /uploads only",
        ),
    ];
    for (text, message) in cases {
        let error = text.parse::<FaultSpec>().expect_err(text).to_string();
        assert!(
            error.contains(message),
            "{text}: {error:?} should say {message:?}"
        );
    }
}

#[test]
fn requests_map_to_routes_by_server_method_and_path() {
    let api = |method: Method, below: &str| {
        Route::of(Server::Api, &method, &format!("{API_PATH}{below}"))
    };
    assert_eq!(api(Method::POST, "/uploads"), Some(Route::Uploads));
    assert_eq!(api(Method::POST, "/targets"), Some(Route::Targets));
    assert_eq!(api(Method::POST, "/runs"), Some(Route::Runs));
    assert_eq!(api(Method::GET, "/runs/run_1"), Some(Route::GetRun));
    assert_eq!(api(Method::GET, "/runs"), None);
    assert_eq!(api(Method::GET, "/runs/run_1/x"), None);
    assert_eq!(api(Method::PUT, "/uploads/upl_1"), None);
    assert_eq!(api(Method::GET, "/uploads"), None);
    assert_eq!(Route::of(Server::Api, &Method::POST, "/runs"), None);
    assert_eq!(
        Route::of(Server::Storage, &Method::PUT, "/uploads/upl_1"),
        Some(Route::Put)
    );
    assert_eq!(
        Route::of(Server::Storage, &Method::POST, "/uploads/upl_1"),
        None
    );
    assert_eq!(Route::of(Server::Storage, &Method::PUT, "/uploads"), None);
}

#[test]
fn the_plan_serves_each_route_in_order_count_times() {
    let mut plan = Plan::new(vec![
        "POST /runs=503x2".parse().unwrap(),
        "GET /runs=404".parse().unwrap(),
        spec(Route::Runs, Fault::Reset, 0),
        "POST /runs=429".parse().unwrap(),
    ]);
    assert_eq!(plan.draw(Route::Uploads), None);
    assert_eq!(plan.draw(Route::Runs), Some(Fault::Status(503)));
    assert_eq!(plan.draw(Route::GetRun), Some(Fault::NotFound));
    assert_eq!(plan.draw(Route::Runs), Some(Fault::Status(503)));
    assert_eq!(
        plan.draw(Route::Runs),
        Some(Fault::TooMany {
            retry_after_secs: 1
        })
    );
    assert_eq!(plan.draw(Route::Runs), None);
    assert_eq!(plan.draw(Route::GetRun), None);
    assert_eq!(plan.to_json(), json!({ "pending": [] }));
}

#[test]
fn json_specs_default_the_count_and_name_the_bad_field() {
    let good = FaultSpec::from_json(&json!({"route": "POST /runs", "fault": "503", "count": 2}));
    assert_eq!(good.unwrap(), spec(Route::Runs, Fault::Status(503), 2));
    let one = FaultSpec::from_json(&json!({"route": "GET /runs", "fault": "429:3"})).unwrap();
    assert_eq!(
        one.to_json(),
        json!({"route": "GET /runs", "fault": "429:3", "count": 1})
    );
    let cases = [
        (json!({"fault": "503"}), "route: required"),
        (json!({"route": 5, "fault": "503"}), "route: required"),
        (json!({"route": "POST /runs"}), "fault: required"),
        (
            json!({"route": "POST /runz", "fault": "503"}),
            "route: unknown route \"POST /runz\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "nope"}),
            "fault: unknown fault \"nope\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "503", "count": 0}),
            "count: bad count \"0\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "503", "count": "2"}),
            "count: bad count \"\\\"2\\\"\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "expire"}),
            "fault: fault expire applies to PUT /uploads only",
        ),
    ];
    for (body, message) in cases {
        let error = FaultSpec::from_json(&body).expect_err(&body.to_string());
        let error = error.body["error"].as_str().unwrap().to_owned();
        assert!(
            error.starts_with(message),
            "{body}: {error:?} should start with {message:?}"
        );
    }
}
