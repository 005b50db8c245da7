"""What a user would otherwise write: python-jenkins lists every job and reads each job's last
build every tick, and POSTs what changed. Usage: naive_poller.py JENKINS RECEIVER SECONDS
INTERVAL. Prints the number of completed ticks on its last line."""

import json
import sys
import time
import urllib.request

import jenkins

url, receiver, seconds, interval = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
server = jenkins.Jenkins(url)
seen = {}
ticks = 0
deadline = time.time() + seconds
first = True
while time.time() < deadline or ticks == 0:
    start = time.time()
    for job in server.get_all_jobs():
        if "jobs" in job or job.get("_class", "").endswith("Folder") or job.get("_class", "").endswith("MultiBranchProject"):
            continue
        info = server.get_job_info(job["fullname"])
        last = (info.get("lastBuild") or {}).get("number", 0)
        before = seen.get(job["fullname"])
        seen[job["fullname"]] = last
        if first or before is None or last <= before:
            continue
        for number in range(before + 1, last + 1):
            try:
                build = server.get_build_info(job["fullname"], number)
            except jenkins.JenkinsException:
                continue
            body = json.dumps({"build": {"timestamp": build["timestamp"], "number": number}}).encode()
            req = urllib.request.Request(receiver, data=body, method="POST", headers={
                "ce-specversion": "1.0", "ce-id": f"{job['fullname']}/{number}", "ce-source": "naive",
                "ce-type": "org.jenkinsci.job.started", "Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
    first = False
    ticks += 1
    time.sleep(max(0.0, interval - (time.time() - start)))
print(ticks, flush=True)
