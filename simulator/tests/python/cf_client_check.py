"""Drives the simulator with the PyPI `cloudfoundry-client` (an independent CF client).

Usage: cf_client_check.py API_URL. Prints one JSON object with what it saw.
"""
import json
import sys

from cloudfoundry_client.client import CloudFoundryClient

url = sys.argv[1]
client = CloudFoundryClient(url, verify=False)
client.init_with_user_credentials("admin", "admin")

flag = client.v3.feature_flags.update("diego_docker", enabled=True)
org = client.v3.organizations._create({"name": "py-org"})
space = client.v3.spaces.create("py-space", org["guid"])
created = []
for i in range(5):
    app = client.v3.apps._create({
        "name": "py-app-%d" % i,
        "relationships": {"space": {"data": {"guid": space["guid"]}}},
        "lifecycle": {"type": "docker", "data": {}},
        "metadata": {"labels": {"made-by": "python"}},
    })
    created.append(app["guid"])
listed = [a["name"] for a in client.v3.apps.list(per_page=2, label_selector="made-by=python")]
fetched = client.v3.apps.get(created[0])
client.v3.apps.remove(created[0], asynchronous=False)
after_delete = [a["name"] for a in client.v3.apps.list(per_page=2)]
print(json.dumps({
    "flag_enabled": flag["enabled"],
    "space_name": space["name"],
    "listed": listed,
    "fetched_lifecycle": fetched["lifecycle"]["type"],
    "after_delete": after_delete,
}))
