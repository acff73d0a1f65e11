"""Drives the simulator's Stackato (v2) dialect with the PyPI `cloudfoundry-client`.

Usage: cf_client_v2_check.py API_URL IMAGE. Prints one JSON object with what it saw.
"""
import json
import sys

from cloudfoundry_client.client import CloudFoundryClient

url, image = sys.argv[1], sys.argv[2]
client = CloudFoundryClient(url, verify=False)
client.init_with_user_credentials("admin", "admin")

space = client.v2.spaces.get_first(name="dev")
app = client.v2.apps.create(name="py-v2", space_guid=space["metadata"]["guid"], docker_image=image, instances=2)
guid = app["metadata"]["guid"]
client.v2.apps.start(guid, check_time=0.05, timeout=10)
instances = client.v2.apps.get_instances(guid)
summary = client.v2.apps.get_summary(guid)
listed = [a["entity"]["name"] for a in client.v2.apps.list(name="py-v2")]
client.v2.apps.stop(guid, check_time=0.05, timeout=10)
print(json.dumps({
    "docker_image": app["entity"]["docker_image"],
    "password": app["entity"]["docker_credentials"]["password"],
    "states": sorted(i["state"] for i in instances.values()),
    "running": summary["running_instances"],
    "listed": listed,
}))
