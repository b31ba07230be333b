"""Security and operations properties of template.yaml that must not regress.

Run by scripts/test.sh with the repo's .venv (cfn-lint provides the YAML
loader that understands CloudFormation's short-form tags).
"""

import pathlib
import re
import unittest

from cfnlint.decode import cfn_yaml

TEMPLATE = cfn_yaml.load(str(pathlib.Path(__file__).resolve().parents[2] / "template.yaml"))

# Instances a multi-Region deployer lists: two here, one in another Region.
HERE = ["11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"]
ELSEWHERE = ["arn:aws:connect:us-west-2:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]
INSTANCES = {"ConnectInstanceIds": ",".join(HERE), "ConnectOtherRegionInstanceArns": ",".join(ELSEWHERE)}


def replaced(node, name, item):
    """`node` with the loop variable `name` set to `item`, as
    AWS::LanguageExtensions does: `Ref` to it and `${name}` in strings."""
    if isinstance(node, dict):
        if node == {"Ref": name}:
            return item
        return {k: replaced(v, name, item) for k, v in node.items()}
    if isinstance(node, list):
        return [replaced(v, name, item) for v in node]
    if isinstance(node, str):
        return node.replace("${" + name + "}", item)
    return node


def expanded(parameters):
    """The template's resources with every Fn::ForEach unrolled over the
    parameter values given (the defaults for the rest)."""
    values = {name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()}
    values.update(parameters)
    out = {}
    for name, resource in TEMPLATE["Resources"].items():
        if not name.startswith("Fn::ForEach::"):
            out[name] = resource
            continue
        variable, collection, body = resource
        items = values[collection["Ref"]]
        items = items.split(",") if isinstance(items, str) else items
        for item in items:
            compact = re.sub("[^A-Za-z0-9]", "", item)
            for key, template in body.items():
                key = key.replace("&{" + variable + "}", compact)
                # CloudFormation refuses a template whose loops make one logical id twice.
                assert key not in out, f"{name} makes {key} again"
                out[key] = replaced(template, variable, item)
    return out


RESOURCES = expanded(INSTANCES)


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


def deployed(**parameters):
    """The resources a deployment with these parameters creates, with every
    Fn::If decided and AWS::NoValue dropped: what CloudFormation would see."""
    values = {name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()}
    values.update(parameters)

    def value(node):
        if isinstance(node, dict) and "Ref" in node:
            return values.get(node["Ref"], node["Ref"])
        if isinstance(node, dict) and "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(str(value(part)) for part in as_list(value(parts)))
        return node

    decided = {}

    def condition(name):
        if name not in decided:
            decided[name] = truth(TEMPLATE["Conditions"][name])
        return decided[name]

    def truth(node):
        ((function, argument),) = node.items()
        if function == "Fn::Equals":
            return str(value(argument[0])) == str(value(argument[1]))
        if function == "Fn::Not":
            return not truth(argument[0])
        if function == "Fn::And":
            return all(truth(a) for a in argument)
        if function == "Fn::Or":
            return any(truth(a) for a in argument)
        if function == "Condition":
            return condition(argument)
        raise ValueError(f"unexpected condition function {function}")

    no_value = object()

    def decide(node):
        if isinstance(node, dict):
            if "Fn::If" in node:
                name, when_true, when_false = node["Fn::If"]
                return decide(when_true if condition(name) else when_false)
            if node == {"Ref": "AWS::NoValue"}:
                return no_value
            out = {k: decide(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not no_value}
        if isinstance(node, list):
            return [v for v in (decide(item) for item in node) if v is not no_value]
        return node

    return {
        name: decide(resource)
        for name, resource in expanded(parameters).items()
        if "Condition" not in resource or condition(resource["Condition"])
    }


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

    def test_each_instance_and_only_it_may_invoke_the_contact_flow(self):
        resources = deployed(**INSTANCES)
        permissions = [r["Properties"] for r in resources.values()
                       if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "connect.amazonaws.com"]
        # One per instance, each this account's and naming that instance: no wildcard.
        self.assertEqual(len(permissions), len(HERE) + len(ELSEWHERE))
        arns = []
        for permission in permissions:
            self.assertEqual(permission["SourceAccount"], {"Ref": "AWS::AccountId"})
            self.assertNotIn("*", str(permission["SourceArn"]))
            arns.append(str(permission["SourceArn"]))
        for instance in HERE:
            self.assertEqual(
                [a for a in arns if a.endswith(f"instance/{instance}'}}")],
                [str({"Fn::Sub": f"arn:${{AWS::Partition}}:connect:${{AWS::Region}}:${{AWS::AccountId}}:instance/{instance}"})],
            )
        self.assertIn(ELSEWHERE[0], arns)

    def test_one_association_per_instance_of_this_region(self):
        resources = deployed(**INSTANCES)
        associations = sorted(str(r["Properties"]["InstanceId"]) for r in resources.values()
                              if r["Type"] == "AWS::Connect::IntegrationAssociation")
        # Connect associates functions of its own Region only.
        self.assertEqual(len(associations), len(HERE))
        for instance, association in zip(sorted(HERE), associations):
            self.assertTrue(association.endswith(f"instance/{instance}'}}"), association)

    def test_the_poller_reads_exactly_each_instance(self):
        resources = deployed(ConnectAgentDetail="true", **INSTANCES)
        policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
        self.assertEqual(len(policies), len(HERE) + len(ELSEWHERE))
        named = []
        for policy in policies:
            self.assertEqual(policy["Roles"], [{"Ref": "PollerFunctionRole"}])
            text = str(policy["PolicyDocument"])
            mentioned = [i for i in HERE + [a.rsplit("/", 1)[1] for a in ELSEWHERE] if i in text]
            self.assertEqual(len(mentioned), 1, text)
            named += mentioned
            self.assertNotIn("instance/*", text)
            actions = {a for st in policy["PolicyDocument"]["Statement"] for a in as_list(st["Action"])}
            self.assertEqual(actions, {"connect:ListQueues", "connect:GetCurrentMetricData", "connect:GetMetricData",
                                       "connect:DescribeInstance", "connect:GetCurrentUserData"})
        self.assertEqual(len(set(named)), len(policies))

    def test_the_poller_is_told_every_instance(self):
        variables = deployed(**INSTANCES)["PollerFunction"]["Properties"]["Environment"]["Variables"]
        separator, parts = variables["CONNECT_INSTANCES"]["Fn::Join"]
        lists = [part["Fn::Join"][0].join(INSTANCES[part["Fn::Join"][1]["Ref"]].split(",")) for part in parts]
        # Ids of this Region and ARNs of others, one list: CONNECT_INSTANCES.
        self.assertEqual(separator.join(lists), ",".join(HERE + ELSEWHERE))

    def test_the_loops_make_distinct_logical_ids_with_empty_lists_too(self):
        # The parameters' defaults are empty lists, which loop once over "".
        self.assertIn("PollerConnectPolicy", expanded({}))
        self.assertIn("PollerConnectElsewherePolicy", expanded({}))

    def test_without_instances_there_is_no_connect_access_at_all(self):
        resources = deployed()
        kinds = {r["Type"] for r in resources.values()}
        self.assertNotIn("AWS::Connect::IntegrationAssociation", kinds)
        self.assertNotIn("AWS::IAM::Policy", kinds)
        self.assertFalse([r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                          and r["Properties"]["Principal"] == "connect.amazonaws.com"])


class Api(unittest.TestCase):
    def test_authorization_is_always_on(self):
        route = RESOURCES["HttpApiRoute"]["Properties"]
        # IAM by default, a JWT authorizer as the alternative: never NONE.
        self.assertEqual(route["AuthorizationType"], {"Fn::If": ["UseJwtAuthorizer", "JWT", "AWS_IAM"]})
        self.assertEqual(TEMPLATE["Parameters"]["ApiAuthorization"]["Default"], "IAM")

    def test_no_data_route_is_public_in_any_mode(self):
        for mode, extra in (("IAM", {}), ("JWT", {"JwtIssuer": "https://issuer.example.com", "JwtAudience": "a"}), ("COGNITO", {})):
            resources = deployed(ApiAuthorization=mode, **extra)
            routes = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"]
            public = [r["RouteKey"] for r in routes if r["AuthorizationType"] == "NONE"]
            # Only the page, only with sign-in, only GET of that exact path.
            self.assertEqual(public, ["GET /wallboard"] if mode == "COGNITO" else [], mode)
            default = next(r for r in routes if r["RouteKey"] == "$default")
            self.assertEqual(default["AuthorizationType"], "AWS_IAM" if mode == "IAM" else "JWT", mode)
            if mode != "IAM":
                self.assertEqual(default["AuthorizerId"], {"Ref": "HttpApiJwtAuthorizer"}, mode)
                self.assertIn("HttpApiJwtAuthorizer", resources, mode)

    def test_cognito_creates_the_pool_domain_client_and_authorizer(self):
        resources = deployed(ApiAuthorization="COGNITO")
        kinds = {r["Type"] for r in resources.values()}
        for kind in ("AWS::Cognito::UserPool", "AWS::Cognito::UserPoolDomain", "AWS::Cognito::UserPoolClient"):
            self.assertIn(kind, kinds)
        pool = resources["WallboardUserPool"]["Properties"]
        self.assertTrue(pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], "no self sign-up")
        client = resources["WallboardUserPoolClient"]["Properties"]
        # A public client (a page keeps no secret) using the code flow only.
        self.assertFalse(client["GenerateSecret"])
        self.assertEqual(client["AllowedOAuthFlows"], ["code"])
        self.assertIn("openid", client["AllowedOAuthScopes"])
        wallboard = {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/wallboard"}
        self.assertEqual(client["CallbackURLs"], [wallboard])
        self.assertEqual(client["LogoutURLs"], [wallboard])
        jwt = resources["HttpApiJwtAuthorizer"]["Properties"]["JwtConfiguration"]
        self.assertEqual(jwt["Issuer"], {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${WallboardUserPool}"})
        self.assertEqual(jwt["Audience"], [{"Ref": "WallboardUserPoolClient"}])
        env = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["WALLBOARD_CLIENT_ID"], {"Ref": "WallboardUserPoolClient"})
        self.assertIn("WallboardUserPoolDomain", env["WALLBOARD_SIGN_IN_URL"]["Fn::Sub"])
        self.assertIn("WallboardUserPoolId", TEMPLATE["Outputs"])

    def test_without_cognito_there_is_no_pool_and_no_sign_in(self):
        for mode in ("IAM", "JWT"):
            resources = deployed(ApiAuthorization=mode, JwtIssuer="https://i.example.com", JwtAudience="a")
            self.assertFalse([n for n, r in resources.items() if r["Type"].startswith("AWS::Cognito::")], mode)
            env = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
            self.assertEqual(env["WALLBOARD_SIGN_IN_URL"], "", mode)
            self.assertEqual(env["WALLBOARD_CLIENT_ID"], "", mode)


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
            "CONNECT_INSTANCES", "SNAPSHOT_TABLE", "SNAPSHOT_STREAM", "POLL_INTERVAL_SECONDS",
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
        for name in ("LevelChangeTopic", "LevelChangeTopicPolicy", "LevelChangeRule", "SourceStatusChangeRule"):
            self.assertEqual(RESOURCES[name]["Condition"], "MailsLevelChanges", name)
        rules = {
            "LevelChangeRule": "Queue Level Changed",
            "SourceStatusChangeRule": "Source Status Changed",
        }
        for name, detail_type in rules.items():
            rule = RESOURCES[name]["Properties"]
            self.assertEqual(rule["EventPattern"], {"source": ["queue-stats"], "detail-type": [detail_type]})
            self.assertEqual(rule["Targets"][0]["Arn"], {"Ref": "LevelChangeTopic"})
        policy = RESOURCES["LevelChangeTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual(policy["Principal"], {"Service": "events.amazonaws.com"})
        # Only these two rules may publish to the topic.
        self.assertEqual(
            policy["Condition"]["ArnEquals"]["aws:SourceArn"],
            [{"Fn::GetAtt": [name, "Arn"]} for name in rules],
        )


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


class ContactEvents(unittest.TestCase):
    ON = dict(ConnectInstanceIds="11111111-2222-3333-4444-555555555555,aaaaaaaa-2222-3333-4444-555555555555",
              ConnectContactEvents="true")

    def test_off_by_default_and_without_instances(self):
        for parameters in ({}, dict(ConnectContactEvents="true"), dict(self.ON, ConnectSourceEnabled="false")):
            resources = deployed(**parameters)
            for name in ("ContactEventsQueue", "ContactEventsDeadLetterQueue", "ContactEventsRule", "ContactEventsQueuePolicy"):
                self.assertNotIn(name, resources, (name, parameters))
            env = resources["PollerFunction"]["Properties"]["Environment"]["Variables"]
            self.assertEqual(env["CONNECT_CONTACT_EVENTS_QUEUE_URL"], "", parameters)
            sids = [s.get("Sid") for p in resources["PollerFunction"]["Properties"]["Policies"] for s in p["Statement"]]
            self.assertNotIn("DrainContactEvents", sids, parameters)

    def test_the_rule_matches_this_stacks_instances_queue_moves_only(self):
        rule = deployed(**self.ON)["ContactEventsRule"]["Properties"]
        pattern = rule["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.connect"])
        self.assertEqual(pattern["detail-type"], ["Amazon Connect Contact Event"])
        self.assertEqual(pattern["detail"]["eventType"], ["QUEUED", "CONNECTED_TO_AGENT", "DISCONNECTED"])
        # This account's instances in this Region (the poller drops other
        # instances' events: their queues are not polled).
        self.assertEqual(
            pattern["detail"]["instanceArn"],
            [{"prefix": {"Fn::Sub": "arn:${AWS::Partition}:connect:${AWS::Region}:${AWS::AccountId}:instance/"}}],
        )
        self.assertEqual(rule["EventBusName"], "default")
        self.assertEqual(rule["Targets"], [{"Id": "poller-contact-events", "Arn": {"Fn::GetAtt": ["ContactEventsQueue", "Arn"]}}])

    def test_the_queue_is_encrypted_with_a_dead_letter_queue_and_only_the_rule_may_send(self):
        resources = deployed(**self.ON)
        queue = resources["ContactEventsQueue"]["Properties"]
        self.assertTrue(queue["SqsManagedSseEnabled"])
        self.assertTrue(resources["ContactEventsDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"])
        self.assertEqual(queue["RedrivePolicy"]["deadLetterTargetArn"], {"Fn::GetAtt": ["ContactEventsDeadLetterQueue", "Arn"]})
        policy = resources["ContactEventsQueuePolicy"]["Properties"]
        self.assertEqual(policy["Queues"], [{"Ref": "ContactEventsQueue"}])
        (statement,) = policy["PolicyDocument"]["Statement"]
        self.assertEqual(statement["Principal"], {"Service": "events.amazonaws.com"})
        self.assertEqual(statement["Action"], "sqs:SendMessage")
        self.assertEqual(statement["Resource"], {"Fn::GetAtt": ["ContactEventsQueue", "Arn"]})
        self.assertEqual(statement["Condition"], {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ContactEventsRule", "Arn"]}}})

    def test_the_poller_may_drain_that_queue_only_and_is_told_its_url(self):
        poller = deployed(**self.ON)["PollerFunction"]["Properties"]
        (statement,) = [s for p in poller["Policies"] for s in p["Statement"] if s.get("Sid") == "DrainContactEvents"]
        self.assertEqual(statement["Action"], ["sqs:ReceiveMessage", "sqs:DeleteMessage"])
        self.assertEqual(statement["Resource"], {"Fn::GetAtt": ["ContactEventsQueue", "Arn"]})
        every_sqs = [s for p in poller["Policies"] for s in p["Statement"] if "sqs:" in str(s.get("Action"))]
        self.assertEqual(every_sqs, [statement], "no other SQS access")
        self.assertEqual(poller["Environment"]["Variables"]["CONNECT_CONTACT_EVENTS_QUEUE_URL"], {"Ref": "ContactEventsQueue"})


class Mcp(unittest.TestCase):
    def test_mcp_is_behind_the_default_routes_authorization_in_every_mode(self):
        for mode in ("IAM", "JWT", "COGNITO"):
            resources = deployed(ApiAuthorization=mode, JwtIssuer="https://issuer.example", JwtAudience="aud")
            routes = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"]
            # No route of its own: POST /mcp reaches the function through
            # $default, whose authorizer is never NONE.
            self.assertFalse([r for r in routes if "mcp" in r["RouteKey"].lower()], mode)
            default = next(r for r in routes if r["RouteKey"] == "$default")
            self.assertNotEqual(default["AuthorizationType"], "NONE", mode)

    def test_cors_lets_a_browser_client_post_with_the_mcp_headers(self):
        cors = deployed(CorsAllowOrigins="https://app.example")["HttpApi"]["Properties"]["CorsConfiguration"]
        self.assertIn("POST", cors["AllowMethods"])
        for header in ("mcp-protocol-version", "mcp-method", "mcp-name"):
            self.assertIn(header, cors["AllowHeaders"])
