//! The shim against a real mock Jenkins over sockets, delivering to a real HTTP receiver.
//! Each test scripts Jenkins and checks the bytes the receiver got.

mod util;

use mock_jenkins::{Enqueue, Kind, Plan, Settings};
use serde_json::json;
use std::time::Duration;

use jenkins_event_shim::config::Options;
use mock_jenkins::MockJenkins;
use tokio_util::sync::CancellationToken;
use util::{Receiver, Shim, jenkins, options, settle};

fn user(name: &str) -> Enqueue {
    Enqueue {
        quiet_ms: Some(0),
        user: Some(name.into()),
        ..Enqueue::default()
    }
}

/// Lifecycle order, the plugin's header set, and the data fields, for a freestyle build.
mod lifecycle {
    use super::*;

    #[tokio::test]
    async fn freestyle_build_gives_queue_and_job_events_in_order_with_plugin_headers() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;

        let id = mock
            .world()
            .enqueue(
                "app",
                Enqueue {
                    params: vec![("Zeta".into(), "1".into()), ("alpha".into(), "2".into())],
                    ..user("Jane Doe")
                },
            )
            .unwrap();
        rx.wait_for("entered_waiting", |r| r.len() == 1).await;
        let n = mock.world().start(id).unwrap();
        rx.wait_for("started", |r| r.len() == 3).await;
        mock.world().finish("app", n, "FAILURE").unwrap();
        let got = rx.wait_for("failed", |r| r.len() == 6).await;

        assert_eq!(
            rx.types_for("job/app"),
            [
                "queue.entered_waiting",
                "queue.left",
                "job.started",
                "job.completed",
                "job.finalized",
                "job.failed"
            ]
        );
        let names: Vec<&str> = got[0]
            .headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with("ce-"))
            .collect();
        assert_eq!(names, ["ce-specversion", "ce-id", "ce-source", "ce-type"]);
        assert_eq!(got[0].header("content-type"), Some("application/json"));
        assert_eq!(got[0].header("ce-specversion"), Some("1.0"));

        let entered = got[0].json();
        let keys = util::keys(&entered);
        assert_eq!(keys, util::contract::QUEUE_ENTERED);
        assert_eq!(entered["ciUrl"], json!(mock.url()));
        assert_eq!(entered["startedBy"], "Jane Doe");
        assert_eq!(entered["jenkinsQueueId"], json!(id));
        assert_eq!(entered["entryTime"], entered["exitTime"]);
        assert_eq!(
            entered["queueCauses"][0]["reasonForWaiting"],
            "In the quiet period. Expires in 0 ms"
        );

        let left = got[1].json();
        assert!(
            left.get("queueCauses").is_none(),
            "left has no queueCauses key"
        );
        assert_eq!(left["status"], "LEFT");

        let started = got[2].json();
        let keys = util::keys(&started);
        assert_eq!(keys, util::contract::JOB_RUN);
        assert_eq!(started["url"], "job/app/");
        let build = &started["build"];
        let keys = util::keys(build);
        assert_eq!(keys, util::contract::BUILD);
        assert_eq!(build["status"], json!(null));
        assert_eq!(build["displayName"], json!(null));
        assert_eq!(build["url"], format!("job/app/{n}/"));
        assert_eq!(build["fullUrl"], format!("{}job/app/{n}/", mock.url()));
        let params: Vec<&str> = build["parameters"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(params, ["alpha", "Zeta"], "sorted case-insensitively");
        assert_eq!(
            build["scmState"],
            json!({"url": null, "branch": null, "commit": null})
        );

        let (finalized, failed) = (got[4].json(), got[5].json());
        assert_eq!(finalized["build"]["phase"], "FINALIZED");
        assert_eq!(
            failed["build"], finalized["build"],
            "failed repeats finalized's data"
        );
        assert_ne!(got[4].header("ce-id"), got[5].header("ce-id"));
        shim.stop().await;
    }

    #[tokio::test]
    async fn build_that_starts_and_finishes_between_two_polls_is_reported_whole() {
        let (mock, rx, shim) = util::scene("quick", Kind::Freestyle).await;
        {
            let mut w = mock.world();
            let id = w.enqueue("quick", user("bob")).unwrap();
            let n = w.start(id).unwrap();
            w.finish("quick", n, "SUCCESS").unwrap();
        }
        rx.wait_for("five events", |r| r.len() >= 5).await;
        settle().await;
        assert_eq!(rx.types_for("job/quick"), util::contract::LIFECYCLE);
        shim.stop().await;
    }

    #[tokio::test]
    async fn many_and_concurrent_builds_of_one_job_each_keep_their_order() {
        let (mock, rx, shim) = util::scene("pipe", Kind::Pipeline).await;
        let numbers: Vec<u64> = {
            let mut w = mock.world();
            (0..4)
                .map(|_| {
                    let id = w.enqueue("pipe", user("a")).unwrap();
                    w.start(id).unwrap()
                })
                .collect()
        };
        rx.wait_for("4 started", |r| {
            r.iter().filter(|e| e.ty().ends_with("started")).count() == 4
        })
        .await;
        {
            let mut w = mock.world();
            for n in numbers.iter().rev() {
                w.finish("pipe", *n, "SUCCESS").unwrap();
            }
        }
        let got = rx
            .wait_for("4 finalized", |r| {
                r.iter().filter(|e| e.ty().ends_with("finalized")).count() == 4
            })
            .await;
        for n in numbers {
            let phases: Vec<String> = got
                .iter()
                .filter(|e| {
                    e.ty().starts_with("org.jenkinsci.job.")
                        && e.json()["build"]["number"] == json!(n)
                })
                .map(|e| e.ty().to_string())
                .collect();
            assert_eq!(
                phases,
                [
                    "org.jenkinsci.job.started",
                    "org.jenkinsci.job.completed",
                    "org.jenkinsci.job.finalized"
                ],
                "build {n}"
            );
        }
        shim.stop().await;
    }
}

/// Queue behaviours: cancellation, the left-item race, placeholders.
mod queue {
    use super::*;

    #[tokio::test]
    async fn cancelled_item_gives_entered_and_left_and_no_build() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
        let id = mock
            .world()
            .enqueue(
                "app",
                Enqueue {
                    quiet_ms: Some(60_000),
                    ..user("x")
                },
            )
            .unwrap();
        rx.wait_for("entered", |r| r.len() == 1).await;
        mock.world().cancel(id).unwrap();
        rx.wait_for("left", |r| r.len() == 2).await;
        settle().await;
        assert_eq!(
            rx.types_for("job/app"),
            ["queue.entered_waiting", "queue.left"]
        );
        let entered = rx.received()[0].json();
        assert_eq!(
            entered["queueCauses"][0]["reasonForWaiting"],
            "In the quiet period. Expires in 1 min 0 sec"
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn left_item_without_executable_yet_is_not_taken_for_a_cancellation() {
        let mock = jenkins(Settings {
            left_race_ms: 700,
            ..Settings::default()
        })
        .await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        let id = mock
            .world()
            .enqueue(
                "app",
                Enqueue {
                    quiet_ms: Some(60_000),
                    ..user("x")
                },
            )
            .unwrap();
        rx.wait_for("entered", |r| r.len() == 1).await;
        let n = mock.world().start(id).unwrap();
        rx.wait_for("started", |r| r.len() == 3).await;
        assert_eq!(
            rx.types_for("job/app"),
            ["queue.entered_waiting", "queue.left", "job.started"]
        );
        assert_eq!(
            rx.received()[1].json()["exitTime"],
            rx.received()[2].json()["build"]["timestamp"]
        );
        mock.world().finish("app", n, "SUCCESS").unwrap();
        rx.wait_for("finalized", |r| r.len() == 5).await;
        shim.stop().await;
    }

    #[tokio::test]
    async fn pipeline_node_placeholders_produce_no_events_of_their_own() {
        let (mock, rx, shim) = util::scene("team/pipe", Kind::Pipeline).await;
        let id = mock.world().enqueue("team/pipe", user("x")).unwrap();
        let n = mock.world().start(id).unwrap();
        // The run's node{} block queues a placeholder item, which then takes an executor.
        let placeholder = *mock
            .world()
            .queue
            .keys()
            .next()
            .expect("placeholder queued");
        util::eventually("placeholder on an executor", || {
            mock.world().left.contains_key(&placeholder)
        })
        .await;
        settle().await;
        mock.world().finish("team/pipe", n, "SUCCESS").unwrap();
        rx.wait_for("finalized", |r| {
            r.iter().any(|e| e.ty().ends_with("finalized"))
        })
        .await;
        settle().await;
        assert_eq!(rx.types_for("job/pipe"), util::contract::LIFECYCLE);
        assert_eq!(rx.received().len(), 5, "nothing for the placeholder");
        shim.stop().await;
    }

    #[tokio::test]
    async fn multibranch_indexing_is_queued_and_left_like_the_plugin_reports_it_never_as_a_job() {
        let mock = jenkins(Settings::default()).await;
        let folders: Vec<String> = (1..=6).map(|i| format!("repo{i}")).collect();
        for f in &folders {
            let mut w = mock.world();
            w.create(f, Kind::Multibranch).unwrap();
            w.item_mut(f).unwrap().plan.duration_ms = 1_500;
        }
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        shim.wait_ready().await;
        // "Scan Multibranch Pipeline Now": ComputedFolder.doBuild. Beyond five, cloudbees-folder
        // throttles the rest ("At maximum indexing capacity").
        for f in &folders {
            assert_eq!(
                util::jenkins_post(&mock, &format!("job/{f}/build")).await,
                201
            );
        }
        util::eventually("one indexing throttled", || {
            let w = mock.world();
            w.queue
                .values()
                .any(|q| w.blocked_reason(q).as_deref() == Some("At maximum indexing capacity"))
        })
        .await;
        rx.wait_for("entered and left for each", |r| r.len() >= 12)
            .await;
        tokio::time::sleep(Duration::from_millis(2_000)).await; // a scan, then nothing more
        for f in &folders {
            assert_eq!(
                rx.types_for(&format!("job/{f}")),
                ["queue.entered_waiting", "queue.left"],
                "{f}"
            );
        }
        assert_eq!(rx.received().len(), 12, "no job.created for a folder");
        shim.stop().await;
    }

    #[tokio::test]
    async fn build_shorter_than_a_poll_is_reported_at_the_next_poll_not_at_the_next_scan() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.poll_interval = Some(std::time::Duration::from_secs(1));
        opts.scan_interval = Some(std::time::Duration::from_secs(60)); // the default: no scan during this test
        let shim = Shim::start(opts).await;
        shim.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let queued_at = std::time::Instant::now();
        {
            let mut w = mock.world();
            let id = w.enqueue("app", user("fast")).unwrap();
            let n = w.start(id).unwrap();
            w.finish("app", n, "SUCCESS").unwrap();
            // And one created and cancelled between the same two polls.
            let gone = w
                .enqueue(
                    "app",
                    Enqueue {
                        quiet_ms: Some(5_000),
                        ..user("x")
                    },
                )
                .unwrap();
            w.cancel(gone).unwrap();
        }
        rx.wait_for("the build and the cancelled item", |r| r.len() >= 7)
            .await;
        assert!(
            queued_at.elapsed() < Duration::from_millis(1_600),
            "reported {:?} after it ran, poll interval 1 s",
            queued_at.elapsed()
        );
        settle().await;
        let mut types = rx.types_for("job/app");
        types.sort();
        let mut want = [
            "queue.entered_waiting",
            "queue.left",
            "job.started",
            "job.completed",
            "job.finalized",
            "queue.entered_waiting",
            "queue.left",
        ];
        want.sort();
        assert_eq!(types, want);
        let types = rx.types_for("job/app");
        let jobs: Vec<_> = types.iter().filter(|t| t.starts_with("job.")).collect();
        assert_eq!(jobs, ["job.started", "job.completed", "job.finalized"]);
        let started = types.iter().position(|t| t == "job.started").unwrap();
        assert!(
            types[..started]
                .iter()
                .filter(|t| *t == "queue.left")
                .count()
                >= 1,
            "the build's queue item left before it started: {types:?}"
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn item_that_came_and_went_between_polls_is_recovered_from_its_build() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.poll_interval = Some(std::time::Duration::from_secs(1));
        let shim = Shim::start(opts).await;
        let (id, n) = {
            let mut w = mock.world();
            let id = w.enqueue("app", user("carol")).unwrap();
            (id, w.start(id).unwrap())
        };
        rx.wait_for("started", |r| r.len() == 3).await;
        let got = rx.received();
        assert_eq!(
            rx.types_for("job/app"),
            ["queue.entered_waiting", "queue.left", "job.started"]
        );
        assert_eq!(got[0].json()["jenkinsQueueId"], json!(id));
        assert_eq!(got[0].json()["startedBy"], "carol");
        assert_eq!(got[2].json()["build"]["number"], json!(n));
        shim.stop().await;
    }
}

/// Names: folders, multibranch branches, spaces, non-ASCII, and how they reach headers.
mod names {
    use super::*;

    #[tokio::test]
    async fn folders_branches_spaces_and_accents_reach_the_receiver_percent_encoded() {
        let mock = jenkins(Settings::default()).await;
        {
            let mut w = mock.world();
            w.create("repo", Kind::Multibranch).unwrap();
            w.create("repo/feature%2Flogin", Kind::Pipeline).unwrap();
            w.create("team/nightly build", Kind::Freestyle).unwrap();
            w.create("déploiement", Kind::Freestyle).unwrap();
        }
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        for job in ["repo/feature%2Flogin", "team/nightly build", "déploiement"] {
            let mut w = mock.world();
            let id = w.enqueue(job, user("x")).unwrap();
            let n = w.start(id).unwrap();
            w.finish(job, n, "SUCCESS").unwrap();
        }
        rx.wait_for("15 events", |r| r.len() >= 15).await;
        // Header values: one round of percent-decoding gives the attribute back.
        assert_eq!(
            rx.types_for("job/feature/login").len(),
            5,
            "branch display name, / kept"
        );
        assert_eq!(
            rx.types_for("job/nightly%2520build").len(),
            5,
            "space encoded in the source, then % in the header"
        );
        assert_eq!(
            rx.types_for("job/d%C3%A9ploiement").len(),
            5,
            "non-ASCII as UTF-8 bytes"
        );
        let branch = rx
            .received()
            .into_iter()
            .find(|r| {
                r.ty().ends_with("job.started")
                    && r.header("ce-source") == Some("job/feature/login")
            })
            .unwrap();
        assert_eq!(branch.json()["url"], "job/repo/job/feature%252Flogin/");
        assert_eq!(branch.json()["name"], "feature%2Flogin");
        assert_eq!(branch.json()["displayName"], "feature/login");
        shim.stop().await;
    }

    #[tokio::test]
    async fn sources_the_plugin_would_drop_are_dropped_when_asked() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("with space", Kind::Freestyle).unwrap();
        mock.world().create("plain", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.invalid_sources = Some(jenkins_event_shim::event::InvalidSources::Drop);
        let shim = Shim::start(opts).await;
        for job in ["with space", "plain"] {
            let mut w = mock.world();
            let id = w.enqueue(job, user("x")).unwrap();
            let n = w.start(id).unwrap();
            w.finish(job, n, "SUCCESS").unwrap();
        }
        rx.wait_for("plain's events", |r| r.len() >= 5).await;
        settle().await;
        assert_eq!(rx.received().len(), 5);
        assert!(
            rx.received()
                .iter()
                .all(|r| r.header("ce-source") == Some("job/plain"))
        );
        shim.stop().await;
    }
}

/// Jenkins-side trouble: deleted builds, restarts, node changes, job creation.
mod jenkins_side {
    use super::*;

    #[tokio::test]
    async fn deleted_build_is_skipped_and_later_builds_still_arrive() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.poll_interval = Some(std::time::Duration::from_secs(1));
        let shim = Shim::start(opts).await;
        {
            let mut w = mock.world();
            for _ in 0..2 {
                let id = w.enqueue("app", user("x")).unwrap();
                let n = w.start(id).unwrap();
                w.finish("app", n, "SUCCESS").unwrap();
            }
            w.delete_build("app", 1).unwrap();
        }
        rx.wait_for("build 2 finalized", |r| {
            r.iter().any(|e| e.ty().ends_with("finalized"))
        })
        .await;
        settle().await;
        let builds: Vec<u64> = rx
            .received()
            .iter()
            .filter(|r| r.ty().starts_with("org.jenkinsci.job."))
            .map(|r| r.json()["build"]["number"].as_u64().unwrap())
            .collect();
        assert_eq!(builds, [2, 2, 2]);
        shim.stop().await;
    }

    #[tokio::test]
    async fn restart_finishes_aborted_builds_and_reannounces_online_nodes() {
        let mock = jenkins(Settings {
            version: "2.319.1".into(),
            ..Settings::default()
        })
        .await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        let id = mock.world().enqueue("app", user("x")).unwrap();
        mock.world().start(id).unwrap();
        rx.wait_for("started", |r| r.len() == 3).await;
        let before = mock.world().session.clone();
        mock.world().restart();
        assert_ne!(mock.world().session, before);
        let got = rx
            .wait_for("aborted build finalized", |r| {
                r.iter().any(|e| e.ty().ends_with("finalized"))
            })
            .await;
        let finalized = got.iter().find(|e| e.ty().ends_with("finalized")).unwrap();
        assert_eq!(finalized.json()["build"]["status"], "ABORTED");
        let online: Vec<_> = got
            .iter()
            .filter(|e| e.ty() == "org.jenkinsci.node.online")
            .collect();
        assert_eq!(online.len(), 1);
        assert_eq!(
            online[0].header("ce-source"),
            Some("node/"),
            "the built-in node is node/ (Built-In Node in 2.319)"
        );
        assert_eq!(
            online[0].json(),
            json!({"numExecutors": 0, "offlineCause": null, "nodeName": "", "cachedHostName": null, "terminatedBy": null, "connectTime": 0})
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn agents_going_offline_and_online_give_node_events() {
        let mock = jenkins(Settings::default()).await;
        mock.world().set_node("agent1", false, false);
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        mock.world().set_node("agent1", true, false);
        rx.wait_for("offline", |r| r.len() == 1).await;
        mock.world().set_node("agent1", true, true); // marked offline by a user: not reported
        settle().await;
        mock.world().set_node("agent1", false, false);
        rx.wait_for("online", |r| r.len() == 2).await;
        assert_eq!(rx.types_for("node/agent1"), ["node.offline", "node.online"]);
        let offline = rx.received()[0].json();
        assert_eq!(offline["nodeName"], "agent1");
        assert_eq!(offline["terminatedBy"], json!([]));
        assert_eq!(
            offline["offlineCause"]["shortDescription"],
            "Connection was broken"
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn new_freestyle_job_is_created_with_its_config_and_pipelines_are_not() {
        let mock = jenkins(Settings::default()).await;
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        mock.world().create("fresh", Kind::Freestyle).unwrap();
        mock.world()
            .create("fresh-pipeline", Kind::Pipeline)
            .unwrap();
        let got = rx.wait_for("created", |r| !r.is_empty()).await;
        let created = got[0].json();
        assert_eq!(got[0].ty(), "org.jenkinsci.job.created");
        let keys = util::keys(&created);
        assert_eq!(keys, util::contract::JOB_CREATED);
        assert!(
            created["configFile"]
                .as_str()
                .unwrap()
                .contains("<project>")
        );
        mock.world().item_mut("fresh").unwrap().description = "changed".into();
        rx.wait_for("updated", |r| r.len() == 2).await;
        settle().await;
        assert_eq!(rx.types_for("job/fresh"), ["job.created", "job.updated"]);
        assert!(rx.types_for("job/fresh-pipeline").is_empty());
        shim.stop().await;
    }
}

/// Items that move: Jenkins fires only `onRenamed` / `onLocationChanged`, for which the plugin
/// sends nothing; their history is not new.
mod relocation {
    use super::*;

    #[tokio::test]
    async fn renamed_and_moved_jobs_send_nothing_and_replay_no_history() {
        let mock = jenkins(Settings::default()).await;
        {
            let mut w = mock.world();
            w.create("app", Kind::Freestyle).unwrap();
            w.create("team", Kind::Folder).unwrap();
        }
        for _ in 0..5 {
            util::run_build(&mock, "app", "SUCCESS");
        }
        // Builds started before the shim's scans: history, as on a real controller.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        shim.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(1_200)).await; // one scan after the start
        assert_eq!(
            util::jenkins_post(&mock, "job/app/confirmRename?newName=renamed").await,
            200
        );
        tokio::time::sleep(Duration::from_millis(2_500)).await; // two scans
        assert_eq!(
            util::jenkins_post(&mock, "job/renamed/move/move?destination=/team").await,
            200
        );
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(rx.received().len(), 0, "{:?}", rx.types_for("job/renamed"));
        // Its next build is reported as usual, under its new place.
        util::run_build(&mock, "team/renamed", "SUCCESS");
        rx.wait_for("the new build", |r| r.len() >= 5).await;
        settle().await;
        assert_eq!(rx.types_for("job/renamed"), util::contract::LIFECYCLE);
        let started = rx.received()[2].json();
        assert_eq!(started["url"], "job/team/job/renamed/");
        assert_eq!(started["build"]["number"], 6);
        shim.stop().await;
    }
}

/// Queue shapes of a real controller driven through its own API.
mod queue_api {
    use super::*;

    #[tokio::test]
    async fn a_second_trigger_folds_in_and_disabling_the_job_cancels_the_item() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
        shim.wait_ready().await;
        // Two triggers while the first waits out its quiet period: Queue.schedule2 keeps one
        // item (the second cause folds into it), so the plugin sees one entered_waiting.
        for _ in 0..2 {
            assert_eq!(
                util::jenkins_post(&mock, "job/app/build?delay=60sec").await,
                201
            );
        }
        rx.wait_for("entered", |r| !r.is_empty()).await;
        assert_eq!(mock.world().queue.len(), 1);
        // AbstractProject.makeDisabled cancels it (a cancelled left item, no build) and saves
        // the job (ItemListener.onUpdated: the next scan sees it disabled).
        assert_eq!(util::jenkins_post(&mock, "job/app/disable").await, 200);
        rx.wait_for("left and updated", |r| r.len() >= 3).await;
        settle().await;
        let mut types = rx.types_for("job/app");
        types.sort();
        assert_eq!(
            types,
            ["job.updated", "queue.entered_waiting", "queue.left"]
        );
        shim.stop().await;
    }
}

/// A token that cannot read everything: Jenkins hides the jobs, queue items and builds it cannot
/// read, and `config.xml` needs Job/ExtendedRead.
mod permissions {
    use super::*;

    #[tokio::test]
    async fn folder_scoped_token_sees_its_folder_only_and_sends_created_without_config() {
        let mock = util::jenkins_for_watcher_in("t0ken", &["team"]).await;
        {
            let mut w = mock.world();
            w.create("team", Kind::Folder).unwrap();
            w.create("team/app", Kind::Freestyle).unwrap();
            w.create("secret", Kind::Folder).unwrap();
            w.create("secret/vault", Kind::Freestyle).unwrap();
        }
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.jenkins_user = Some("watcher".into());
        opts.jenkins_token = Some("t0ken".into());
        let shim = Shim::start(opts).await;
        shim.wait_ready().await;
        mock.world().create("team/new", Kind::Freestyle).unwrap();
        mock.world()
            .create("secret/hidden", Kind::Freestyle)
            .unwrap();
        rx.wait_for("created", |r| !r.is_empty()).await;
        for job in ["secret/vault", "team/app"] {
            util::run_build(&mock, job, "FAILURE");
        }
        rx.wait_for("team/app's lifecycle", |r| r.len() >= 7).await;
        settle().await;
        let created = &rx.received()[0];
        assert_eq!(created.ty(), "org.jenkinsci.job.created");
        assert_eq!(created.json()["name"], "new");
        assert!(
            created.json().get("configFile").is_none(),
            "no configFile without Job/ExtendedRead: {}",
            created.json()
        );
        assert_eq!(rx.types_for("job/vault"), Vec::<String>::new());
        assert_eq!(rx.types_for("job/hidden"), Vec::<String>::new());
        assert_eq!(rx.received().len(), 7, "created, then team/app's six");
        shim.stop().await;
    }
}

/// Matrix projects: a `MatrixBuild` and one `MatrixRun` per configuration, each queued and run;
/// `RunListener` fires for every `Run`, `ItemListener.onCreated` for none of the configurations.
mod matrix {
    use super::*;

    fn matrix_done(mock: &MockJenkins, n: u64) -> bool {
        let w = mock.world();
        w.items["m"]
            .builds
            .get(&n)
            .is_some_and(|b| b.result.is_some())
            && !w.running.contains(&("m".to_string(), n))
    }

    #[tokio::test]
    async fn each_configuration_run_is_reported_without_created_or_history() {
        let mock = jenkins(Settings::default()).await;
        mock.world()
            .create_matrix("m", "label", &["linux", "windows"])
            .unwrap();
        mock.world().item_mut("m").unwrap().plan = Plan {
            duration_ms: 300,
            result: "SUCCESS".into(),
        };
        // History: build #1 ran before the shim started.
        assert_eq!(util::jenkins_post(&mock, "job/m/build").await, 201);
        util::eventually("matrix build #1 done", || matrix_done(&mock, 1)).await;
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        shim.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(1_200)).await; // a scan
        assert_eq!(util::jenkins_post(&mock, "job/m/build").await, 201);
        util::eventually("matrix build #2 done", || matrix_done(&mock, 2)).await;
        rx.wait_for("the build and its two runs", |r| r.len() >= 15)
            .await;
        tokio::time::sleep(Duration::from_millis(1_500)).await; // a scan, then nothing more
        assert_eq!(
            rx.received().len(),
            15,
            "{:?}",
            rx.received()
                .iter()
                .map(|r| r.ty().to_string())
                .collect::<Vec<_>>()
        );
        for source in ["job/m", "job/linux", "job/windows"] {
            assert_eq!(rx.types_for(source), util::contract::LIFECYCLE, "{source}");
        }
        let linux: Vec<_> = rx
            .received()
            .into_iter()
            .filter(|r| r.header("ce-source") == Some("job/linux"))
            .collect();
        assert_eq!(linux[0].json()["startedBy"], "UPSTREAM");
        let started = linux[2].json();
        assert_eq!(started["name"], "label=linux");
        assert_eq!(started["url"], "job/m/label=linux/");
        assert_eq!(started["build"]["number"], 2);
        assert_eq!(started["build"]["url"], "job/m/label=linux/2/");
        shim.stop().await;
    }
}

/// Behind a reverse proxy: Jenkins under a context path, and a configured root URL that is not
/// the URL the shim polls.
mod proxy {
    use super::*;

    #[tokio::test]
    async fn context_path_and_a_different_root_url_give_the_plugins_urls() {
        let mock = jenkins(Settings {
            context_path: "/jenkins".into(),
            root_url: Some("https://ci.example.com/jenkins/".into()),
            ..Settings::default()
        })
        .await;
        assert!(mock.url().ends_with("/jenkins/"));
        mock.world().create("team", Kind::Folder).unwrap();
        mock.world().create("team/app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        shim.wait_ready().await;
        let id = mock.world().enqueue("team/app", user("jane")).unwrap();
        rx.wait_for("entered", |r| !r.is_empty()).await;
        let n = mock.world().start(id).unwrap();
        mock.world().finish("team/app", n, "SUCCESS").unwrap();
        rx.wait_for("the lifecycle", |r| r.len() >= 5).await;
        settle().await;
        assert_eq!(rx.types_for("job/app"), util::contract::LIFECYCLE);
        let got = rx.received();
        assert_eq!(got[0].json()["ciUrl"], "https://ci.example.com/jenkins/");
        let started = got[2].json();
        assert_eq!(started["url"], "job/team/job/app/");
        assert_eq!(
            started["build"]["fullUrl"],
            format!("https://ci.example.com/jenkins/job/team/job/app/{n}/")
        );
        assert_eq!(started["build"]["url"], format!("job/team/job/app/{n}/"));
        shim.stop().await;
    }
}

/// The sink side: outages, refusals, modes, and stable ids.
mod delivery {
    use super::*;

    #[tokio::test]
    async fn a_sink_that_redirects_or_refuses_credentials_keeps_every_event_and_says_what_to_fix() {
        for (status, header, says) in [
            (
                301,
                Some("https://127.0.0.1:1/events?token=s3cret"),
                "https://127.0.0.1:1/events",
            ),
            (401, None, "bearer-token"),
            (404, None, "check the sink's URL"),
        ] {
            let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
            shim.wait_ready().await;
            rx.fail_next(3, status, header);
            util::run_build(&mock, "app", "SUCCESS");
            let mut said = String::new();
            for _ in 0..100 {
                let (code, body) = shim.get("/readyz").await;
                if code == 503 {
                    said = body;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                said.contains("sink") && said.contains(says),
                "{status}: {said}"
            );
            assert!(
                !said.contains("s3cret"),
                "no query from the Location: {said}"
            );
            // Nothing is thrown away: once the sink answers 2xx, every event arrives.
            rx.wait_for("the whole lifecycle", |r| r.len() >= 5).await;
            assert_eq!(
                rx.types_for("job/app"),
                util::contract::LIFECYCLE,
                "{status}"
            );
            assert_eq!(shim.get("/readyz").await.0, 200, "{status}: ready again");
            let (_, metrics) = shim.get("/metrics").await;
            assert!(
                util::metric_sum(&metrics, "error_type=\"misconfigured\"") > 0.0,
                "{metrics}"
            );
            shim.stop().await;
        }
    }

    #[tokio::test]
    async fn sink_answering_500_gets_every_event_once_it_recovers_and_polling_goes_on() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
        rx.fail_next(4, 500, None);
        util::run_build(&mock, "app", "SUCCESS");
        rx.wait_for("all five after the outage", |r| r.len() == 5)
            .await;
        assert_eq!(rx.attempts(), 9);
        assert_eq!(rx.types_for("job/app"), util::contract::LIFECYCLE);
        let (_, metrics) = shim.get("/metrics").await;
        assert!(
            metrics.contains("sink_retries_total{sink=\"http-0\"} 4"),
            "{metrics}"
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn retry_after_is_honoured_and_other_4xx_are_counted_and_skipped() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
        rx.fail_next(1, 429, Some("1"));
        rx.fail_next(1, 400, None);
        let start = std::time::Instant::now();
        util::run_build(&mock, "app", "SUCCESS");
        rx.wait_for("the four not refused", |r| r.len() == 4).await;
        assert!(
            start.elapsed() >= std::time::Duration::from_millis(900),
            "waited for Retry-After"
        );
        settle().await;
        assert_eq!(
            rx.received().len(),
            4,
            "the event refused with 400 is not retried"
        );
        let (_, metrics) = shim.get("/metrics").await;
        assert!(
            metrics.contains("component_discarded_events_total{sink=\"http-0\"} 1"),
            "{metrics}"
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn gone_410_disables_the_sink_and_readyz_says_why() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
        rx.fail_next(1, 410, None);
        util::run_build(&mock, "app", "SUCCESS");
        util::eventually("410 seen", || rx.attempts() >= 1).await;
        settle().await;
        assert_eq!(rx.attempts(), 1, "nothing more after 410");
        let (status, body) = shim.get("/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("http-0"), "{body}");
        shim.stop().await;
    }

    #[tokio::test]
    async fn structured_mode_and_plugin_empty_bodies_are_chosen_by_option() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.sink_mode = Some(jenkins_event_shim::sink::http::Mode::Structured);
        opts.job_bodies = Some(jenkins_event_shim::event::JobBodies::Plugin100);
        let shim = Shim::start(opts).await;
        util::run_build(&mock, "app", "SUCCESS");
        let got = rx.wait_for("five", |r| r.len() == 5).await;
        assert_eq!(
            got[0].header("content-type"),
            Some("application/cloudevents+json; charset=utf-8")
        );
        let started = got[2].json();
        assert_eq!(started["type"], "org.jenkinsci.job.started");
        assert_eq!(started["datacontenttype"], "application/json");
        assert!(
            started.get("data").is_none(),
            "plugin 1.0.0 sends job events without data"
        );
        assert!(
            got[0].json()["data"]["jenkinsQueueId"].is_u64(),
            "queue events keep their data"
        );
        shim.stop().await;
    }

    #[tokio::test]
    async fn the_same_change_gets_the_same_id_from_two_independent_shims() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let (a, b) = (Receiver::start().await, Receiver::start().await);
        let shim_a = Shim::start(options(&mock, vec![a.url()])).await;
        let shim_b = Shim::start(options(&mock, vec![b.url()])).await;
        util::run_build(&mock, "app", "SUCCESS");
        let got_a = a.wait_for("five", |r| r.len() == 5).await;
        let got_b = b.wait_for("five", |r| r.len() == 5).await;
        let ids = |r: &[util::Received]| {
            r.iter()
                .map(|e| e.header("ce-id").unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&got_a), ids(&got_b));
        assert!(uuid_like(&ids(&got_a)[0]));
        shim_a.stop().await;
        shim_b.stop().await;
    }

    fn uuid_like(s: &str) -> bool {
        s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
    }

    #[tokio::test]
    async fn jenkins_answering_garbage_is_reported_and_polling_recovers() {
        let (mock, rx, shim) = util::scene("app", Kind::Freestyle).await;
        mock.world().faults.push(mock_jenkins::Fault {
            path_prefix: "/queue/".into(),
            query: None,
            kind: mock_jenkins::FaultKind::Garbage,
            remaining: Some(5),
        });
        util::run_build(&mock, "app", "SUCCESS");
        rx.wait_for("events after the garbage", |r| r.len() == 5)
            .await;
        let (_, metrics) = shim.get("/metrics").await;
        assert!(
            metrics.contains(
                "jenkins_errors_total{controller=\"127.0.0.1\",endpoint=\"queue\",error_type=\"malformed_body\"} 5"
            ),
            "{metrics}"
        );
        shim.stop().await;
    }
}

/// Planned (simulated) builds run by the mock's own clock.
mod simulated {
    use super::*;

    #[tokio::test]
    async fn builds_the_mock_runs_on_its_own_arrive_complete() {
        let mock = jenkins(Settings {
            post_production_ms: 300,
            ..Settings::default()
        })
        .await;
        mock.world().create("auto", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let shim = Shim::start(options(&mock, vec![rx.url()])).await;
        mock.world()
            .enqueue(
                "auto",
                Enqueue {
                    quiet_ms: Some(300),
                    user: None,
                    params: vec![],
                    plan: Some(Plan {
                        duration_ms: 500,
                        result: "UNSTABLE".into(),
                    }),
                },
            )
            .unwrap();
        rx.wait_for("finalized", |r| r.len() == 5).await;
        assert_eq!(rx.received()[0].json()["startedBy"], "TIMER");
        assert_eq!(rx.received()[4].json()["build"]["status"], "UNSTABLE");
        assert!(
            rx.received()[4].json()["build"]["duration"]
                .as_i64()
                .unwrap()
                >= 500
        );
        shim.stop().await;
    }
}

/// `--state-dir`: the cursor and the outbox survive a restart of the shim.
mod state_dir {
    use super::*;

    #[tokio::test]
    async fn restart_resumes_from_the_cursor_and_delivers_what_waited_with_the_same_ids() {
        let dir = std::env::temp_dir().join(format!("shim-e2e-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        rx.fail_next(10_000, 503, None);
        let mut opts = options(&mock, vec![rx.url()]);
        opts.state_dir = Some(dir.clone());
        let first = Shim::start(opts.clone()).await;
        let run = |mock: &mock_jenkins::MockJenkins| {
            let mut w = mock.world();
            let id = w.enqueue("app", user("x")).unwrap();
            let n = w.start(id).unwrap();
            w.finish("app", n, "SUCCESS").unwrap();
        };
        run(&mock);
        util::eventually("delivery attempted", || rx.attempts() >= 2).await;
        settle().await;
        first.stop().await;
        // While the shim is down, another build runs from start to end.
        run(&mock);
        rx.heal();
        let second = Shim::start(opts).await;
        rx.wait_for("both builds", |r| r.len() >= 10).await;
        settle().await;
        let got = rx.received();
        assert_eq!(got.len(), 10, "nothing lost, nothing twice");
        let mut ids: Vec<&str> = got.iter().map(|r| r.header("ce-id").unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        let lifecycle = [
            "queue.entered_waiting",
            "queue.left",
            "job.started",
            "job.completed",
            "job.finalized",
        ];
        assert_eq!(rx.types_for("job/app"), [lifecycle, lifecycle].concat());
        assert!(dir.join("shim.redb").exists());
        second.stop().await;
    }

    #[tokio::test]
    async fn an_item_created_and_cancelled_while_the_shim_was_down_is_reported_after_it() {
        let dir = std::env::temp_dir().join(format!("shim-e2e-down-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.state_dir = Some(dir.clone());
        let first = Shim::start(opts.clone()).await;
        first.wait_ready().await;
        first.stop().await;
        // Down for less than Jenkins' 5 minutes of left items: an item comes and goes.
        let id = {
            let mut w = mock.world();
            let id = w
                .enqueue(
                    "app",
                    Enqueue {
                        quiet_ms: Some(60_000),
                        ..user("x")
                    },
                )
                .unwrap();
            w.cancel(id).unwrap();
            id
        };
        let second = Shim::start(opts).await;
        rx.wait_for("entered and left", |r| r.len() >= 2).await;
        settle().await;
        assert_eq!(
            rx.types_for("job/app"),
            ["queue.entered_waiting", "queue.left"]
        );
        assert_eq!(rx.received()[0].json()["jenkinsQueueId"], json!(id));
        second.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Jenkins misbehaving: 5xx, timeouts, garbage and broken connections on the polled endpoints.
mod jenkins_faults {
    use super::*;

    #[tokio::test]
    async fn a_response_larger_than_the_limit_is_refused_with_the_option_to_raise_it() {
        // 3 MiB of valid JSON from something that answers like Jenkins.
        let huge = format!("{{\"items\":[{}{{}}]}}", "{},".repeat(1_500_000));
        let app = axum::Router::new().fallback(move || {
            let body = huge.clone();
            async move { body }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let config = |mb: u64| {
            Options {
                jenkins_url: Some(format!("http://{addr}/")),
                jenkins_max_response_mb: Some(mb),
                ..Options::default()
            }
            .resolve(false)
            .unwrap()
            .controllers
            .remove(0)
            .jenkins
        };
        let small = jenkins_event_shim::jenkins::Client::new(config(1)).unwrap();
        let err = small
            .get_json::<serde_json::Value>("queue/api/json", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than 1 MiB") && err.contains("--jenkins-max-response-mb"),
            "{err}"
        );
        let large = jenkins_event_shim::jenkins::Client::new(config(8)).unwrap();
        assert!(
            large
                .get_json::<serde_json::Value>("queue/api/json", None)
                .await
                .is_ok()
        );
    }
    use mock_jenkins::{Fault, FaultKind};

    #[tokio::test]
    async fn errors_timeouts_garbage_and_resets_delay_events_but_lose_none() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.jenkins_timeout = Some(std::time::Duration::from_millis(300));
        let shim = Shim::start(opts).await;
        {
            let mut w = mock.world();
            for (path, kind) in [
                ("/queue/", FaultKind::Status(503)),
                ("/computer/", FaultKind::Delay(600)),
                ("/queue/", FaultKind::Garbage),
                ("/computer/", FaultKind::Reset),
                ("/job/", FaultKind::Status(500)),
            ] {
                w.faults.push(Fault {
                    path_prefix: path.into(),
                    query: None,
                    kind,
                    remaining: Some(3),
                });
            }
        }
        util::run_build(&mock, "app", "FAILURE");
        rx.wait_for("all six", |r| r.len() >= 6).await;
        settle().await;
        assert_eq!(
            rx.types_for("job/app"),
            [
                "queue.entered_waiting",
                "queue.left",
                "job.started",
                "job.completed",
                "job.finalized",
                "job.failed"
            ]
        );
        assert!(mock.world().faults.is_empty(), "every fault was hit");
        let (_, metrics) = shim.get("/metrics").await;
        for error_type in ["http_status", "timeout", "malformed_body"] {
            assert!(
                util::metric_sum(&metrics, &format!("error_type=\"{error_type}\"")) > 0.0,
                "{error_type} counted: {metrics}"
            );
        }
        shim.stop().await;
    }
}

/// `--backfill`: history on a first start, instead of beginning at "now".
mod backfill {
    use super::*;

    #[tokio::test]
    async fn first_start_with_backfill_reports_recent_builds_and_without_it_none() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        util::run_build(&mock, "app", "SUCCESS");
        util::run_build(&mock, "app", "FAILURE");
        let (with, without) = (Receiver::start().await, Receiver::start().await);
        let mut opts = options(&mock, vec![with.url()]);
        opts.backfill = Some(std::time::Duration::from_secs(3600));
        let a = Shim::start(opts).await;
        let b = Shim::start(options(&mock, vec![without.url()])).await;
        with.wait_for("both builds", |r| r.len() == 11).await;
        settle().await;
        let mut expected = [util::contract::LIFECYCLE, util::contract::LIFECYCLE].concat();
        expected.push("job.failed");
        assert_eq!(
            with.types_for("job/app"),
            expected,
            "whole lifecycles, queue items included"
        );
        assert!(
            without.received().is_empty(),
            "no replay without --backfill"
        );
        a.stop().await;
        b.stop().await;
    }
}

/// Sink outages: events wait in the outbox; one slow sink does not hold back another; a full
/// outbox pauses polling without losing anything.
mod outages {
    use super::*;

    #[tokio::test]
    async fn a_down_and_a_hanging_sink_do_not_hold_back_a_healthy_one_and_catch_up_in_order() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let (healthy, down) = (Receiver::start().await, Receiver::start().await);
        down.set_down(true);
        // A sink that accepts connections and never answers.
        let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hanging_url = format!("http://{}/", hanging.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = hanging.accept().await {
                held.push(conn);
            }
        });
        let mut opts = options(&mock, vec![healthy.url(), down.url(), hanging_url]);
        opts.sink_timeout = Some(std::time::Duration::from_millis(500));
        let shim = Shim::start(opts).await;
        for _ in 0..3 {
            util::run_build(&mock, "app", "SUCCESS");
        }
        let started = std::time::Instant::now();
        healthy.wait_for("fifteen", |r| r.len() == 15).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not held back"
        );
        assert!(down.received().is_empty() && down.attempts() > 0);
        down.set_down(false);
        down.wait_for("fifteen after recovery", |r| r.len() == 15)
            .await;
        let ids = |rx: &Receiver| {
            rx.received()
                .iter()
                .map(|r| r.header("ce-id").unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&down), ids(&healthy), "same events, same order");
        // The hanging sink times out and retries, on its own.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, metrics) = shim.get("/metrics").await;
            if util::metric_sum(
                &metrics,
                "component_errors_total{sink=\"http-2\",error_type=\"timeout\"}",
            ) > 0.0
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{metrics}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        shim.stop().await;
    }

    #[tokio::test]
    async fn a_full_outbox_pauses_polling_and_loses_nothing() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        rx.set_down(true);
        let mut opts = options(&mock, vec![rx.url()]);
        opts.outbox_capacity = Some(3);
        let shim = Shim::start(opts).await;
        util::run_build(&mock, "app", "SUCCESS");
        util::eventually("paused", || rx.attempts() > 0).await;
        settle().await;
        // While paused, more builds run; they are caught up once the sink is back.
        util::run_build(&mock, "app", "FAILURE");
        let (_, metrics) = shim.get("/metrics").await;
        assert!(
            !metrics.contains("outbox_full_skipped_polls_total 0"),
            "{metrics}"
        );
        rx.set_down(false);
        rx.wait_for("both builds", |r| r.len() == 11).await;
        let mut expected = [util::contract::LIFECYCLE, util::contract::LIFECYCLE].concat();
        expected.push("job.failed");
        assert_eq!(rx.types_for("job/app"), expected);
        shim.stop().await;
    }
}

/// Batched mode, only when configured.
mod batching {
    use super::*;

    #[tokio::test]
    async fn batch_mode_sends_arrays_of_structured_events_in_order() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.sink_mode = Some(jenkins_event_shim::sink::http::Mode::Batch);
        let shim = Shim::start(opts).await;
        util::run_build(&mock, "app", "FAILURE");
        let events = |r: &[util::Received]| {
            r.iter()
                .flat_map(|x| x.json().as_array().cloned().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        rx.wait_for("six events in batches", |r| events(r).len() >= 6)
            .await;
        let got = rx.received();
        assert!(
            got.len() < 6,
            "grouped: {} requests for 6 events",
            got.len()
        );
        assert!(got.iter().all(|r| r.header("content-type")
            == Some("application/cloudevents-batch+json; charset=utf-8")));
        let types: Vec<String> = events(&got)
            .iter()
            .map(|e| {
                e["type"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("org.jenkinsci.")
                    .to_string()
            })
            .collect();
        assert_eq!(
            types,
            [
                "queue.entered_waiting",
                "queue.left",
                "job.started",
                "job.completed",
                "job.finalized",
                "job.failed"
            ]
        );
        shim.stop().await;
    }
}

/// Several sinks from the config file, each with its own filter, auth and headers.
mod sink_options {
    use super::*;

    #[tokio::test]
    async fn each_sink_gets_what_its_filter_wants_with_its_own_auth_and_headers() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("team/app", Kind::Freestyle).unwrap();
        mock.world().create("other", Kind::Freestyle).unwrap();
        let (jobs_only, everything) = (Receiver::start().await, Receiver::start().await);
        let dir = std::env::temp_dir().join(format!("shim-sinks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "first-token\n").unwrap();
        std::fs::write(dir.join("password"), "pa55").unwrap();
        let config = dir.join("shim.toml");
        std::fs::write(
            &config,
            format!(
                r#"sink = [
  {{ url = "{}", name = "team-jobs", types = ["org.jenkinsci.job.*"], jobs = ["team/*"], bearer-token-file = "{}" }},
  {{ url = "{}", name = "all", mode = "structured", basic-user = "shim", basic-password-file = "{}", headers = {{ X-Tenant = "ci" }} }},
]
"#,
                jobs_only.url(),
                token.display(),
                everything.url(),
                dir.join("password").display()
            ),
        )
        .unwrap();
        let mut opts = options(&mock, vec![]);
        opts.config = Some(config);
        let shim = Shim::start(opts).await;
        util::run_build(&mock, "team/app", "SUCCESS");
        util::run_build(&mock, "other", "SUCCESS");
        everything.wait_for("ten events", |r| r.len() == 10).await;
        jobs_only
            .wait_for("three job events of team/app", |r| r.len() == 3)
            .await;
        settle().await;
        assert_eq!(
            jobs_only.types_for("job/app"),
            ["job.started", "job.completed", "job.finalized"]
        );
        assert_eq!(
            jobs_only.received().len(),
            3,
            "nothing of `other`, no queue events"
        );
        assert!(
            jobs_only
                .received()
                .iter()
                .all(|r| r.header("authorization") == Some("Bearer first-token"))
        );
        let all = everything.received();
        assert!(
            all.iter()
                .all(|r| r.header("authorization") == Some("Basic c2hpbTpwYTU1")
                    && r.header("x-tenant") == Some("ci"))
        );
        assert!(all.iter().all(|r| {
            r.header("content-type")
                .unwrap()
                .starts_with("application/cloudevents+json")
        }));

        // A rotated token (as Kubernetes updates a mounted Secret) is picked up.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        std::fs::write(&token, "second-token\n").unwrap();
        util::run_build(&mock, "team/app", "SUCCESS");
        jobs_only.wait_for("three more", |r| r.len() == 6).await;
        assert_eq!(
            jobs_only.received()[5].header("authorization"),
            Some("Bearer second-token")
        );
        let (_, metrics) = shim.get("/metrics").await;
        assert!(!metrics.contains("first-token") && !metrics.contains("pa55"));
        shim.stop().await;
    }
}

/// Opt-in attributes the plugin never sets.
mod extras {
    use super::*;

    #[tokio::test]
    async fn time_subject_and_the_controller_url_only_when_asked() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("team/app", Kind::Freestyle).unwrap();
        let (plain, extra) = (Receiver::start().await, Receiver::start().await);
        let a = Shim::start(options(&mock, vec![plain.url()])).await;
        let mut opts = options(&mock, vec![extra.url()]);
        opts.extras = Some(jenkins_event_shim::event::Extras {
            time: true,
            subject: true,
            jenkins_url: true,
        });
        let b = Shim::start(opts).await;
        let n = util::run_build(&mock, "team/app", "SUCCESS");
        plain.wait_for("five", |r| r.len() == 5).await;
        let got = extra.wait_for("five", |r| r.len() == 5).await;
        assert!(plain.received().iter().all(|r| {
            r.headers
                .iter()
                .filter(|(h, _)| h.starts_with("ce-"))
                .count()
                == 4
        }));
        let started = &got[2];
        assert_eq!(
            started.header("ce-subject"),
            Some(format!("team/app/{n}").as_str())
        );
        assert_eq!(got[0].header("ce-subject"), Some("team/app"));
        assert_eq!(started.header("ce-jenkinsurl"), Some(mock.url().as_str()));
        let time = started.header("ce-time").unwrap();
        assert!(
            (time.ends_with('Z') || time.ends_with("+00:00")) && time.contains('T'),
            "RFC 3339: {time}"
        );
        assert_eq!(
            plain.received()[2].header("ce-id"),
            started.header("ce-id"),
            "extras do not change ids"
        );
        a.stop().await;
        b.stop().await;
    }
}

/// The file sink: JSON lines for other tools.
mod file_sink {
    use super::*;

    #[tokio::test]
    async fn a_file_sink_appends_one_structured_event_per_line() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Freestyle).unwrap();
        let path = std::env::temp_dir().join(format!("shim-events-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let shim = Shim::start(options(&mock, vec![format!("file://{}", path.display())])).await;
        util::run_build(&mock, "app", "SUCCESS");
        util::eventually("five lines", || {
            std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() == 5)
        })
        .await;
        let text = std::fs::read_to_string(&path).unwrap();
        let types: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("org.jenkinsci.")
                    .to_string()
            })
            .collect();
        assert_eq!(types, util::contract::LIFECYCLE);
        shim.stop().await;
    }
}

/// Several Jenkins controllers in one process: each with its own URL, credentials, poll
/// settings and cursor; the opt-in `jenkinsurl` extension tells their events apart.
mod controllers {
    use super::*;

    fn config(
        dir: &std::path::Path,
        a: &MockJenkins,
        b: &MockJenkins,
        rx: &Receiver,
        only_b: &Receiver,
    ) -> std::path::PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let token = dir.join("b-token");
        std::fs::write(&token, "b-secret\n").unwrap();
        let path = dir.join("shim.toml");
        std::fs::write(
            &path,
            format!(
                r#"extras = "jenkinsurl"
poll-interval = "150ms"
scan-interval = "1s"
sink = ["{}", {{ url = "{}", name = "only-b", controllers = ["b"], retry-initial = "100ms", retry-max = "1s" }}]

[[controller]]
name = "a"
jenkins-url = "{}"

[[controller]]
name = "b"
jenkins-url = "{}"
jenkins-user = "shim"
jenkins-token-file = "{}"
poll-interval = "200ms"
"#,
                rx.url(),
                only_b.url(),
                a.url(),
                b.url(),
                token.display()
            ),
        )
        .unwrap();
        path
    }

    fn opts(path: std::path::PathBuf, state: Option<std::path::PathBuf>) -> Options {
        Options {
            config: Some(path),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            sink_timeout: Some(std::time::Duration::from_secs(2)),
            state_dir: state,
            ..Options::default()
        }
    }

    #[tokio::test]
    async fn two_controllers_feed_one_sink_and_the_jenkinsurl_extension_tells_them_apart() {
        let a = jenkins(Settings::default()).await;
        let b = jenkins(Settings {
            users: vec![("shim".into(), "b-secret".into())],
            ..Settings::default()
        })
        .await;
        a.world().create("app", Kind::Freestyle).unwrap();
        b.world().create("app", Kind::Freestyle).unwrap();
        let (rx, only_b) = (Receiver::start().await, Receiver::start().await);
        let dir = std::env::temp_dir().join(format!("shim-controllers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = config(&dir, &a, &b, &rx, &only_b);
        let shim = Shim::start(opts(path.clone(), Some(dir.join("state")))).await;
        util::run_build(&a, "app", "SUCCESS");
        util::run_build(&b, "app", "FAILURE");
        rx.wait_for("both builds", |r| r.len() >= 11).await;
        settle().await;
        shim.stop().await;

        let from = |url: &str| -> Vec<String> {
            rx.received()
                .iter()
                .filter(|r| r.header("ce-jenkinsurl") == Some(url))
                .map(|r| r.ty().trim_start_matches("org.jenkinsci.").to_string())
                .collect()
        };
        assert_eq!(from(&a.url()), util::contract::LIFECYCLE);
        let b_types = from(&b.url());
        assert_eq!(
            b_types.len(),
            6,
            "the failed build adds job.failed: {b_types:?}"
        );
        assert!(b_types.contains(&"job.failed".to_string()));
        let ids: std::collections::BTreeSet<_> = rx
            .received()
            .iter()
            .map(|r| r.header("ce-id").unwrap().to_string())
            .collect();
        let only: Vec<_> = only_b
            .received()
            .iter()
            .map(|r| r.header("ce-jenkinsurl").unwrap().to_string())
            .collect();
        assert_eq!(only, vec![b.url(); 6], "a sink filtered to controller b");
        assert_eq!(
            ids.len(),
            11,
            "the same job name on two controllers gives distinct ids"
        );

        // A restart resumes each controller from its own cursor: only new builds are sent.
        let shim = Shim::start(opts(path, Some(dir.join("state")))).await;
        util::run_build(&b, "app", "SUCCESS");
        rx.wait_for("b's next build", |r| r.len() >= 16).await;
        settle().await;
        shim.stop().await;
        assert_eq!(
            rx.received().len(),
            16,
            "nothing replayed from either controller"
        );
        assert_eq!(from(&a.url()).len(), 5);
    }

    #[tokio::test]
    async fn readiness_names_the_controller_that_cannot_be_polled() {
        let a = jenkins(Settings::default()).await;
        let b = jenkins(Settings {
            users: vec![("shim".into(), "another-token".into())],
            ..Settings::default()
        })
        .await; // b-secret is refused: 401
        let rx = Receiver::start().await;
        let dir =
            std::env::temp_dir().join(format!("shim-controllers-ready-{}", std::process::id()));
        let path = config(&dir, &a, &b, &rx, &rx);
        let config = opts(path, None).resolve(true).unwrap();
        let token = CancellationToken::new();
        let (tx, ready) = tokio::sync::oneshot::channel();
        let run = tokio::spawn(jenkins_event_shim::run::run(
            config,
            token.clone(),
            Some(tx),
        ));
        let health = ready.await.unwrap();
        let mut body = String::new();
        for _ in 0..40 {
            let r = reqwest::get(format!("http://{health}/readyz"))
                .await
                .unwrap();
            body = r.text().await.unwrap();
            if body.contains("Jenkins b") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            body.starts_with("not ready: no successful poll of Jenkins b"),
            "{body}"
        );
        let metrics = reqwest::get(format!("http://{health}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            util::metric_sum(
                &metrics,
                "jenkins_errors_total{controller=\"b\",endpoint=\"queue\",error_type=\"unauthorized\"}"
            ) > 0.0,
            "{metrics}"
        );
        // Controller a's error series exist from the start, and stay at 0.
        assert!(
            metrics.contains(
                "jenkins_errors_total{controller=\"a\",endpoint=\"queue\",error_type=\"unauthorized\"} 0"
            ),
            "{metrics}"
        );
        token.cancel();
        run.await.unwrap().unwrap();
    }
}

/// CDEvents task runs of a Pipeline's stages: read while the build runs (once per job-tree
/// scan), the rest at completion, each exactly once.
mod cdevents_stages {
    use super::*;

    #[tokio::test]
    async fn a_running_stage_is_reported_before_the_build_ends_and_never_twice() {
        let mock = jenkins(Settings::default()).await;
        mock.world().create("app", Kind::Pipeline).unwrap();
        let rx = Receiver::start().await;
        let mut opts = options(&mock, vec![rx.url()]);
        opts.sink_format = Some(jenkins_event_shim::event::Format::CdEvents);
        let shim = Shim::start(opts).await;
        let n = util::start_build(&mock, "app");
        rx.wait_for("the Build stage's start while running", |r| {
            r.iter()
                .any(|r| r.ty() == "dev.cdevents.taskrun.started.0.3.0")
        })
        .await;
        mock.world().finish("app", n, "SUCCESS").unwrap();
        rx.wait_for("the run's end", |r| {
            r.iter()
                .any(|r| r.ty() == "dev.cdevents.pipelinerun.finished.0.3.0")
        })
        .await;
        settle().await;
        shim.stop().await;
        let got: Vec<String> = rx
            .received()
            .iter()
            .map(|r| {
                let stage = r.json()["subject"]["content"]["taskName"]
                    .as_str()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default();
                format!("{}{stage}", r.ty().trim_start_matches("dev.cdevents."))
            })
            .collect();
        assert_eq!(
            got,
            [
                "pipelinerun.queued.0.3.0",
                "pipelinerun.started.0.3.0",
                "taskrun.started.0.3.0 Build",
                "taskrun.finished.0.3.0 Build",
                "taskrun.started.0.3.0 Test",
                "taskrun.finished.0.3.0 Test",
                "pipelinerun.finished.0.3.0",
            ]
        );
    }
}
