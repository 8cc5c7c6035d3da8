"""The agent's topics for one thing, and unique names for things, topics and clients."""

import uuid


def unique(prefix="x"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])


class Topics:
    """The topics of the thing `thing`: deployment, its status, health, events, and a function's."""

    def __init__(self, thing):
        self.thing = thing
        self.root = "edge/things/%s" % thing
        self.deployment = self.root + "/deployment"
        self.status = self.root + "/deployment/status"
        self.health = self.root + "/health"
        self.events = self.root + "/events"

    def results(self, fn):
        return "%s/functions/%s/results" % (self.root, fn)

    def invoke(self, fn):
        return "%s/functions/%s/invoke" % (self.root, fn)

    @staticmethod
    def group_deployment(group):
        return "edge/groups/%s/deployment" % group
