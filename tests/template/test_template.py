"""Security and operations properties of template.yaml that must not regress.

Run by scripts/test.sh with the repo's .venv (cfn-lint provides the YAML
loader that understands CloudFormation's short-form tags).
"""

import pathlib
import unittest

from cfnlint.decode import cfn_yaml

TEMPLATE = cfn_yaml.load(str(pathlib.Path(__file__).resolve().parents[2] / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]


def of_type(kind):
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def statements():
    """Every IAM statement of every function, with conditional ones unwrapped."""
    for name, function in of_type("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                if "Fn::If" in statement:
                    _, when_true, _ = statement["Fn::If"]
                    statement = when_true
                yield name, statement


def as_list(value):
    return value if isinstance(value, list) else [value]


class Functions(unittest.TestCase):
    def test_every_function_is_a_rust_arm64_bootstrap_built_with_cargo_lambda(self):
        globals_ = TEMPLATE["Globals"]["Function"]
        self.assertEqual(globals_["Runtime"], "provided.al2023")
        self.assertEqual(globals_["Architectures"], ["arm64"])
        self.assertEqual(globals_["Handler"], "bootstrap")
        binaries = set()
        for name, function in of_type("AWS::Serverless::Function").items():
            self.assertEqual(function["Metadata"]["BuildMethod"], "rust-cargolambda", name)
            binaries.add(function["Metadata"]["BuildProperties"]["Binary"])
            self.assertEqual(function["Properties"]["CodeUri"], "./", name)
            self.assertEqual(function["Properties"]["LoggingConfig"]["LogFormat"], "JSON", name)
        self.assertEqual(binaries, {"poller", "api", "contact-flow"})
        self.assertEqual(globals_["Tracing"], "Active")

    def test_the_poller_never_overlaps_and_runs_every_minute(self):
        poller = RESOURCES["PollerFunction"]["Properties"]
        self.assertEqual(poller["ReservedConcurrentExecutions"], 1)
        self.assertEqual(poller["Events"]["EveryMinute"]["Properties"]["Schedule"], "rate(1 minute)")
        self.assertIn("OnFailure", poller["EventInvokeConfig"]["DestinationConfig"])

    def test_the_contact_flow_answers_inside_connects_eight_seconds(self):
        self.assertLessEqual(RESOURCES["ContactFlowFunction"]["Properties"]["Timeout"], 8)

    def test_every_log_group_has_a_retention(self):
        for name, group in of_type("AWS::Logs::LogGroup").items():
            self.assertIn("RetentionInDays", group["Properties"], name)


class LeastPrivilege(unittest.TestCase):
    def test_no_wildcard_actions(self):
        for name, statement in statements():
            for action in as_list(statement["Action"]):
                self.assertNotIn("*", action, f"{name}: {action}")

    def test_no_wildcard_resources(self):
        for name, statement in statements():
            for resource in as_list(statement["Resource"]):
                self.assertNotEqual(resource, "*", name)

    def test_readers_only_read(self):
        for name in ("ApiFunction", "ContactFlowFunction"):
            for fn, statement in statements():
                if fn == name:
                    for action in as_list(statement["Action"]):
                        self.assertIn(action, {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}, f"{name}: {action}")

    def test_the_contact_flow_is_invokable_by_the_configured_instance_only(self):
        permission = RESOURCES["ContactFlowInvokePermission"]["Properties"]
        self.assertEqual(permission["Principal"], "connect.amazonaws.com")
        self.assertIn("SourceArn", permission)
        self.assertIn("SourceAccount", permission)


class Api(unittest.TestCase):
    def test_authorization_is_always_on(self):
        route = RESOURCES["HttpApiRoute"]["Properties"]
        # IAM by default, JWT as the alternative: never NONE.
        self.assertEqual(route["AuthorizationType"], {"Fn::If": ["UseJwt", "JWT", "AWS_IAM"]})
        self.assertEqual(TEMPLATE["Parameters"]["ApiAuthorization"]["Default"], "IAM")


class Data(unittest.TestCase):
    def test_the_table_expires_history_and_is_protected(self):
        table = RESOURCES["SnapshotTable"]["Properties"]
        self.assertEqual(table["TimeToLiveSpecification"], {"AttributeName": "expiresAt", "Enabled": True})
        self.assertTrue(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        self.assertTrue(table["SSESpecification"]["SSEEnabled"])
        self.assertEqual(table["BillingMode"], "PAY_PER_REQUEST")

    def test_the_stream_is_encrypted_on_demand_and_optional(self):
        stream = RESOURCES["SnapshotStream"]
        self.assertEqual(stream["Condition"], "CreateStream")
        self.assertEqual(stream["Properties"]["StreamEncryption"]["EncryptionType"], "KMS")
        self.assertEqual(stream["Properties"]["StreamModeDetails"]["StreamMode"], "ON_DEMAND")


class Operations(unittest.TestCase):
    def test_alarms_cover_poller_errors_api_5xx_and_staleness(self):
        metrics = {a["Properties"]["MetricName"] for a in of_type("AWS::CloudWatch::Alarm").values()}
        self.assertEqual(metrics, {"Errors", "5xx", "SnapshotsWritten"})

    def test_every_design_setting_is_a_parameter(self):
        env = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
        env.update(RESOURCES["PollerFunction"]["Properties"]["Environment"]["Variables"])
        for setting in [
            "SYMBEE_COMPANY_CODE", "SYMBEE_ENVIRONMENT", "SYMBEE_REGION", "SYMBEE_SECRETS_REGION",
            "SYMBEE_API_KEY_SECRET_ID", "SYMBEE_INCLUDE_AMAZON_QUEUES", "SYMBEE_QUEUE_IDS",
            "CONNECT_INSTANCE_ID", "SNAPSHOT_TABLE", "SNAPSHOT_STREAM", "POLL_INTERVAL_SECONDS",
            "HISTORY_RETENTION_HOURS", "STALE_AFTER_SECONDS",
            "EIGHTX8_PBX_ID", "EIGHTX8_SECRET_ID", "EIGHTX8_SECRETS_REGION", "EIGHTX8_ENDPOINT",
            "EIGHTX8_SITE_IDS", "EIGHTX8_QUEUE_IDS", "EIGHTX8_TIMEOUT_MS",
        ]:
            self.assertIn(setting, env)

    def test_logging_is_set_by_logging_config_not_rust_log(self):
        env = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
        for name, function in of_type("AWS::Serverless::Function").items():
            env.update(function["Properties"].get("Environment", {}).get("Variables", {}))
            self.assertEqual(
                function["Properties"]["LoggingConfig"]["ApplicationLogLevel"], {"Ref": "LogLevel"}, name
            )
        self.assertNotIn("RUST_LOG", env)


class SecretsAccess(unittest.TestCase):
    def test_each_source_reads_only_its_own_secret(self):
        reads = {
            statement["Sid"]: statement
            for _, statement in statements()
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        }
        self.assertEqual(set(reads), {"ReadSymbeeApiKey", "ReadEightByEightCredentials", "ReadClarityServiceAccount"})
        for sid, statement in reads.items():
            self.assertEqual(as_list(statement["Action"]), ["secretsmanager:GetSecretValue"], sid)
            resource = str(statement["Resource"])
            self.assertIn("secret:${", resource, sid)
            self.assertIn("-??????", resource, sid)
        self.assertIn("EightByEightSecretId", str(reads["ReadEightByEightCredentials"]["Resource"]))
        self.assertIn("ClaritySecretId", str(reads["ReadClarityServiceAccount"]["Resource"]))
        self.assertEqual(
            TEMPLATE["Conditions"]["HasEightByEight"], {"Fn::Not": [{"Fn::Equals": [{"Ref": "EightByEightPbxId"}, ""]}]}
        )


class LevelEvents(unittest.TestCase):
    def test_the_poller_may_put_events_on_the_configured_bus_only(self):
        statement = next(st for fn, st in statements() if st.get("Sid") == "AnnounceLevelChanges")
        self.assertEqual(as_list(statement["Action"]), ["events:PutEvents"])
        self.assertIn("event-bus/${EventBusName}", str(statement["Resource"]))
        env = RESOURCES["PollerFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["EVENT_BUS_NAME"], {"Ref": "EventBusName"})
        self.assertEqual(env["LEVEL_HOLD_CYCLES"], {"Ref": "LevelHoldCycles"})
        self.assertEqual(TEMPLATE["Parameters"]["EventBusName"]["Default"], "default")

    def test_mailing_level_changes_is_optional_and_only_the_rule_may_publish(self):
        for name in ("LevelChangeTopic", "LevelChangeTopicPolicy", "LevelChangeRule"):
            self.assertEqual(RESOURCES[name]["Condition"], "MailsLevelChanges", name)
        rule = RESOURCES["LevelChangeRule"]["Properties"]
        self.assertEqual(rule["EventPattern"]["source"], ["queue-stats"])
        policy = RESOURCES["LevelChangeTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual(policy["Principal"], {"Service": "events.amazonaws.com"})
        self.assertIn("aws:SourceArn", str(policy["Condition"]))


class Networking(unittest.TestCase):
    def test_the_poller_joins_a_vpc_only_when_subnets_are_given(self):
        vpc = RESOURCES["PollerFunction"]["Properties"]["VpcConfig"]["Fn::If"]
        self.assertEqual(vpc[0], "PollerInVpc")
        self.assertEqual(vpc[1], {"SubnetIds": {"Ref": "PollerSubnetIds"}, "SecurityGroupIds": {"Ref": "PollerSecurityGroupIds"}})
        self.assertEqual(vpc[2], {"Ref": "AWS::NoValue"})
        params = TEMPLATE["Parameters"]
        self.assertEqual(params["PollerSubnetIds"]["Default"], "")
        self.assertEqual(params["PollerSubnetIds"]["Type"], "CommaDelimitedList")
        rule = TEMPLATE["Rules"]["VpcNeedsSubnetsAndSecurityGroups"]
        self.assertIn("PollerSecurityGroupIds", str(rule["Assertions"]))
        # The readers never need the customer's network.
        for name in ("ApiFunction", "ContactFlowFunction"):
            self.assertNotIn("VpcConfig", RESOURCES[name]["Properties"], name)

    def test_clarity_is_off_by_default_and_needs_its_client_id(self):
        params = TEMPLATE["Parameters"]
        self.assertEqual(params["ClarityBaseUrl"]["Default"], "")
        self.assertIn("ClarityClientId", str(TEMPLATE["Rules"]["ClarityNeedsClientId"]))
        env = RESOURCES["PollerFunction"]["Properties"]["Environment"]["Variables"]
        for variable in ("CLARITY_BASE_URL", "CLARITY_CLIENT_ID", "CLARITY_SIGNALR_HUB", "CLARITY_SIGNALR_METHOD"):
            self.assertIn(variable, env)


if __name__ == "__main__":
    unittest.main()
