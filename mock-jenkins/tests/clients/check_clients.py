"""Drives mock-jenkins with real Jenkins clients (python-jenkins, api4jenkins) and checks that
they get what they would get from Jenkins. Usage: check_clients.py URL USER TOKEN VERSION.
Prints one line per check; exits 1 at the first failure."""

import sys
import time

import api4jenkins
import jenkins

URL, USER, TOKEN, VERSION = sys.argv[1:5]

FAILING = """<?xml version='1.1' encoding='UTF-8'?>
<project><description>fails after a second</description><concurrentBuild>false</concurrentBuild>
<builders><hudson.tasks.Shell><command>echo building
sleep 1
exit 2</command></hudson.tasks.Shell></builders></project>"""
PASSING = """<?xml version='1.1' encoding='UTF-8'?>
<project><description>passes</description><builders><hudson.tasks.Shell><command>sleep 0.5</command>
</hudson.tasks.Shell></builders></project>"""
SLOW = PASSING.replace("sleep 0.5", "sleep 60")
QUIET = PASSING.replace("<description>passes</description>", "<description>quiet</description><quietPeriod>60</quietPeriod>")
PIPELINE = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job"><definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition">
<script>node { sleep 1; echo 'done' }</script></definition></flow-definition>"""
FOLDER = "<?xml version='1.1' encoding='UTF-8'?><com.cloudbees.hudson.plugins.folder.Folder/>"


def check(cond, what):
    if not cond:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def wait(fn, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    check(False, f"{what} (timed out)")


def python_jenkins():
    s = jenkins.Jenkins(URL, username=USER, password=TOKEN)
    # python-jenkins sends credentials only from its first authenticated call on (get_version is
    # anonymous before that, and Jenkins refuses anonymous readers with 403).
    check(s.get_whoami()["id"] == USER, "python-jenkins: get_whoami()")
    check(s.get_version() == VERSION, f"python-jenkins: get_version() == {VERSION}")
    s.create_job("pj-fail", FAILING)
    s.create_job("pj-folder", FOLDER)
    s.create_job("pj-folder/pipe", PIPELINE)
    check(s.job_exists("pj-fail") and s.job_exists("pj-folder/pipe"), "python-jenkins: create_job, also in a folder")
    check(s.get_job_config("pj-fail") == FAILING, "python-jenkins: get_job_config returns the config.xml")
    names = {j["fullname"] for j in s.get_all_jobs()}
    check({"pj-fail", "pj-folder/pipe"} <= names, "python-jenkins: get_all_jobs recurses folders")

    qid = s.build_job("pj-fail", {"GREETING": "hi"})
    item = wait(lambda: s.get_queue_item(qid).get("executable"), "python-jenkins: queue item gets its build")
    number = item["number"]
    info = wait(lambda: (lambda b: b if not b["building"] else None)(s.get_build_info("pj-fail", number)),
                "python-jenkins: build ends")
    check(info["result"] == "FAILURE", "python-jenkins: `exit 2` in the shell step fails the build")
    check(info["duration"] >= 1000, "python-jenkins: `sleep 1` makes it last a second")
    params = [p for a in info["actions"] if a.get("_class") == "hudson.model.ParametersAction" for p in a["parameters"]]
    check({"name": "GREETING", "value": "hi"}.items() <= params[0].items(), "python-jenkins: build parameters")
    check(s.get_queue_item(qid)["cancelled"] is False, "python-jenkins: left item says not cancelled")

    qid = s.build_job("pj-folder/pipe")
    number = wait(lambda: s.get_queue_item(qid).get("executable"), "python-jenkins: pipeline starts")["number"]
    info = wait(lambda: (lambda b: b if not b["building"] else None)(s.get_build_info("pj-folder/pipe", number)),
                "python-jenkins: pipeline ends")
    check(info["result"] == "SUCCESS" and info["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowRun",
          "python-jenkins: pipeline run succeeds")

    s.reconfig_job("pj-fail", QUIET)
    check("quietPeriod" in s.get_job_config("pj-fail"), "python-jenkins: reconfig_job")
    qid = s.build_job("pj-fail")
    check(s.get_queue_item(qid)["_class"] == "hudson.model.Queue$WaitingItem", "python-jenkins: quiet period honoured")
    s.cancel_queue(qid)
    check(s.get_queue_item(qid)["cancelled"] is True, "python-jenkins: cancel_queue")

    s.reconfig_job("pj-fail", SLOW)
    qid = s.build_job("pj-fail")
    number = wait(lambda: s.get_queue_item(qid).get("executable"), "python-jenkins: slow build starts")["number"]
    running = [b for b in s.get_running_builds() if b["name"] == "pj-fail"]
    check(len(running) == 1 and running[0]["number"] == number, "python-jenkins: get_running_builds")
    s.stop_build("pj-fail", number)
    info = wait(lambda: (lambda b: b if not b["building"] else None)(s.get_build_info("pj-fail", number)),
                "python-jenkins: stopped build ends")
    check(info["result"] == "ABORTED", "python-jenkins: stop_build aborts")

    s.disable_job("pj-fail")
    check(s.get_job_info("pj-fail")["color"] == "disabled", "python-jenkins: disable_job")
    s.enable_job("pj-fail")
    check(s.get_job_info("pj-fail")["buildable"] is True, "python-jenkins: enable_job")
    nodes = s.get_nodes()
    check(nodes[0]["name"] in ("master", "Built-In Node") and nodes[0]["offline"] is False, "python-jenkins: get_nodes")
    s.delete_job("pj-folder/pipe")
    check(not s.job_exists("pj-folder/pipe"), "python-jenkins: delete_job")


def api_4_jenkins():
    j = api4jenkins.Jenkins(URL, auth=(USER, TOKEN))
    check(j.version == VERSION, "api4jenkins: version")
    j.create_job("a4j/inner/pass", PASSING, recursive=True)
    job = j.get_job("a4j/inner/pass")
    check(job is not None and job.full_name == "a4j/inner/pass", "api4jenkins: create_job(recursive) and get_job")
    check(type(job).__name__ == "FreeStyleProject", "api4jenkins: _class maps to FreeStyleProject")
    item = j.build_job("a4j/inner/pass", WHO="me")
    build = wait(item.get_build, "api4jenkins: queue item gets its build")
    wait(lambda: not build.building, "api4jenkins: build ends")
    check(build.result == "SUCCESS", "api4jenkins: build result")

    names = [str(i) for i in j.iter(2)]
    check(any("a4j/job/inner/job/pass" in n for n in names), "api4jenkins: iter walks folders")
    nodes = list(j.nodes.iter())
    check(len(nodes) >= 1, "api4jenkins: nodes")
    j.delete_job("a4j/inner/pass")
    check(j.get_job("a4j/inner/pass") is None, "api4jenkins: delete_job")


python_jenkins()
api_4_jenkins()
print("all client checks passed", flush=True)
