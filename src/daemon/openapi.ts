/**
 * The OpenAPI 3.1 description of the daemon's HTTP API (api.ts), served at
 * GET /api/v1/openapi.json. Schemas describe what the daemon sends (JSON Schema 2020-12,
 * OpenAPI 3.1's dialect); test/integration/daemon-openapi.test.ts checks the document
 * against the OpenAPI schema and real answers of a running daemon against it.
 */
import { ERROR_CODES } from './api-errors';

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const error = (description: string): Json => json(ref('Error'), description);
const nullable = (type: string): Json => ({ type: [type, 'null'] });
const clusterName: Json = { name: 'name', in: 'path', required: true, description: 'the cluster\'s name', schema: { type: 'string' } };
const security = [{ bearer: [] }];

/** Answers every action endpoint may give besides its own. */
const actionErrors: Json = {
  '400': error('malformed request (code bad_request)'),
  '401': error('no or wrong bearer token (code unauthorized)'),
  '403': error('no heir.api.token configured: actions are disabled (code actions_disabled)'),
  '404': error('unknown cluster or node (code unknown_cluster, unknown_node)'),
  '413': error('request body too large (code payload_too_large)'),
  '503': error(
    'the daemon is stopping (code stopping); heir.ha: this manager does not lead the cluster and cannot forward the action to its leader ' +
      '(code leader_unavailable, the message names the leader and why), or the action came forwarded to a manager that no longer leads (code not_leader)',
  ),
};

/** heir.ha: an action answered by the cluster's leader through this manager. */
const forwardedTo: Json = {
  type: 'object',
  description: 'heir.ha: the action was forwarded to the cluster\'s leader, which gave this answer',
  required: ['manager', 'url'],
  properties: { manager: { type: 'string' }, url: { type: 'string' } },
};
const forwardedHeader: Json = { description: 'heir.ha: the manager (the cluster\'s leader) that answered a forwarded action', schema: { type: 'string' } };

const longAction = (kind: 'switchover' | 'failover', summary: string, body: Json): Json => ({
  summary,
  description:
    `Starts a ${kind} and answers at once: 202 with the operation, whose URL is in the Location header. ` +
    `GET /api/v1/operations/{id} follows it until its state is succeeded or failed; the report is then in the operation.`,
  operationId: kind,
  tags: ['actions'],
  security,
  parameters: [clusterName],
  requestBody: { required: kind === 'switchover', content: { 'application/json': { schema: body } } },
  responses: {
    '202': {
      ...json(ref('Operation'), `the ${kind} is under way (or already ended, e.g. refused by its preflight)`),
      headers: {
        Location: { description: 'the operation: /api/v1/operations/{id}; absolute to the leader\'s API when forwarded', schema: { type: 'string' } },
        'Heir-Forwarded-To': forwardedHeader,
      },
    },
    ...actionErrors,
    '409': error(`another operation runs on the cluster (code busy)${kind === 'failover' ? ', or the daemon does not know its master (code no_master)' : ''}`),
  },
});

export function openApiDocument(version?: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'heir daemon API',
      version: version ?? '0',
      description:
        'The HTTP API of `heir daemon` (heir.api.listen, 127.0.0.1:7878 by default). Reads are open; actions need ' +
        '`Authorization: Bearer <heir.api.token>`. Switchover and failover are long actions: they answer 202 with an ' +
        'operation to poll. Every error answers `{"error": message, "code": code}`. With heir.ha, an action posted to a manager ' +
        'that does not lead the cluster is forwarded to the leader\'s API (heir.api.advertise_url, published in etcd): the answer is the ' +
        'leader\'s, with the header Heir-Forwarded-To and the field forwardedTo. The paths under /api/v1 also answer ' +
        'without that prefix (/clusters, /clusters/{name}, ...), and /health with it.',
    },
    servers: [{ url: '/' }],
    tags: [{ name: 'status' }, { name: 'actions' }, { name: 'meta' }],
    paths: {
      '/health': {
        get: {
          summary: 'liveness of the daemon',
          operationId: 'health',
          tags: ['meta'],
          responses: { '200': json(ref('Health'), 'the daemon is up'), '503': json(ref('Health'), 'the daemon is stopping') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (text exposition format)',
          operationId: 'metrics',
          tags: ['meta'],
          responses: {
            '200': { description: 'the metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
            '404': error('metrics are not enabled in this process (code not_found)'),
          },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          summary: 'this document',
          operationId: 'openapi',
          tags: ['meta'],
          responses: { '200': json({ type: 'object' }, 'the OpenAPI 3.1 document') },
        },
      },
      '/api/v1/clusters': {
        get: {
          summary: 'every cluster with its status',
          operationId: 'listClusters',
          tags: ['status'],
          responses: {
            '200': json({ type: 'object', required: ['clusters'], properties: { clusters: { type: 'array', items: ref('ClusterStatus') } } }, 'the clusters'),
          },
        },
      },
      '/api/v1/clusters/{name}': {
        get: {
          summary: 'one cluster\'s status: topology, verdict, address, blocked',
          operationId: 'clusterStatus',
          tags: ['status'],
          parameters: [clusterName],
          responses: { '200': json(ref('ClusterStatus'), 'the status'), '404': error('unknown cluster (code unknown_cluster)') },
        },
      },
      '/api/v1/clusters/{name}/reports': {
        get: {
          summary: 'the cluster\'s failover and switchover reports, newest first (at most 50); under heir.ha every manager\'s (the index in etcd) merged with this manager\'s state directory, each report once',
          operationId: 'reports',
          tags: ['status'],
          parameters: [clusterName],
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['cluster', 'reports'],
                properties: {
                  cluster: { type: 'string' },
                  reports: { type: 'array', items: ref('Report') },
                  warnings: { type: 'array', items: { type: 'string' }, description: 'why the list may be incomplete (heir.ha: etcd did not answer, only this manager\'s reports are listed); absent when complete' },
                },
              },
              'the reports',
            ),
            '404': error('unknown cluster (code unknown_cluster)'),
          },
        },
      },
      '/api/v1/clusters/{name}/switchover': {
        post: longAction('switchover', 'planned switchover to a replica', {
          type: 'object',
          required: ['to'],
          additionalProperties: false,
          properties: { to: { type: 'string', minLength: 1, description: 'the node to promote' } },
        }),
      },
      '/api/v1/clusters/{name}/failover': {
        post: longAction('failover', 'failover of the cluster\'s dead master', {
          type: 'object',
          additionalProperties: false,
          properties: { to: { type: 'string', minLength: 1, description: 'the node to promote (default: the best candidate)' } },
        }),
      },
      '/api/v1/clusters/{name}/ack': {
        post: {
          summary: 'acknowledge interrupted or recent failovers: allow automatic failover again',
          operationId: 'ack',
          tags: ['actions'],
          security,
          parameters: [clusterName],
          responses: {
            '200': { ...json(ref('AckResult'), 'acknowledged'), headers: { 'Heir-Forwarded-To': forwardedHeader } },
            ...actionErrors,
            '409': error('refused (code refused)'),
          },
        },
      },
      '/api/v1/operations/{id}': {
        get: {
          summary: 'a switchover or failover started through the API',
          operationId: 'operation',
          tags: ['actions'],
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': json(ref('Operation'), 'the operation'),
            '404': error('no such operation in this daemon, which keeps the last 200 in memory (code unknown_operation)'),
            '503': error('heir.ha: the operation was forwarded to a leader whose API does not answer now (code leader_unavailable)'),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'heir.api.token' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'code'],
          properties: {
            error: { type: 'string', description: 'what went wrong, for people' },
            forwardedTo,
            code: {
              type: 'string',
              enum: Object.keys(ERROR_CODES),
              description: Object.entries(ERROR_CODES)
                .map(([c, d]) => `${c}: ${d}`)
                .join('; '),
            },
          },
        },
        Health: {
          type: 'object',
          required: ['status', 'ok', 'uptime_s', 'actions_enabled'],
          properties: {
            status: { enum: ['ok', 'unhealthy'] },
            ok: { type: 'boolean' },
            uptime_s: { type: 'integer', minimum: 0 },
            version: { type: 'string' },
            actions_enabled: { type: 'boolean' },
            clusters: { type: 'integer' },
            watching: { type: 'integer' },
            busy: { type: 'array', items: { type: 'object', properties: { cluster: { type: 'string' }, operation: { type: 'string' } } } },
            webhooksPending: { type: 'integer' },
            pid: { type: 'integer' },
          },
        },
        NodeStatus: {
          type: 'object',
          required: ['name', 'host', 'port', 'role', 'reachable', 'readOnly', 'superReadOnly', 'io', 'sql', 'source', 'lagS', 'gtid', 'version', 'error'],
          properties: {
            name: { type: 'string' },
            host: { type: 'string' },
            port: { type: 'integer' },
            role: { enum: ['master', 'replica', 'unreachable', 'standalone'] },
            reachable: { type: 'boolean' },
            readOnly: nullable('boolean'),
            superReadOnly: nullable('boolean'),
            io: { ...nullable('string'), description: 'IO thread: Yes, No, Connecting' },
            sql: nullable('string'),
            source: { ...nullable('string'), description: 'the node (or host:port) it replicates from' },
            lagS: nullable('number'),
            gtid: nullable('string'),
            version: nullable('string'),
            error: nullable('string'),
          },
        },
        ClusterStatus: {
          type: 'object',
          required: ['name', 'master', 'verdict', 'blocked', 'blockedReasons', 'blockedUntil', 'source', 'operation', 'failoverAllowed', 'monitor', 'address', 'nodes'],
          properties: {
            name: { type: 'string' },
            master: nullable('string'),
            verdict: { type: 'string', description: 'the monitor\'s verdict: Healthy, Suspect, DeadMaster, ...' },
            blocked: { type: 'boolean', description: 'automatic failover blocked until acknowledged' },
            blockedReasons: { type: 'array', items: { type: 'string' } },
            blockedUntil: nullable('string'),
            source: { enum: ['daemon', 'direct'] },
            snapshotAt: nullable('string'),
            operation: { ...nullable('string'), description: 'switchover or failover running in the daemon' },
            verdictAt: nullable('string'),
            verdictReason: nullable('string'),
            failoverAllowed: { type: 'boolean' },
            monitor: { type: 'string' },
            address: { type: 'object', required: ['type', 'floatingIp'], properties: { type: { type: 'string' }, floatingIp: nullable('string') } },
            nodes: { type: 'array', items: ref('NodeStatus') },
            ha: {
              type: 'object',
              description: 'heir.ha only: this manager, the cluster\'s leader and its lease, the managers known, every manager\'s latest view of the master, etcd\'s health',
              required: ['manager', 'leader', 'leaderSince', 'leaseConfirmedMsAgo', 'whyNot', 'managers', 'views', 'viewMaxAgeMs', 'etcd'],
              properties: {
                manager: { type: 'string' },
                leader: nullable('string'),
                leaderSince: nullable('string'),
                leaseConfirmedMsAgo: { ...nullable('number'), description: 'this manager leads: when etcd last confirmed its lease' },
                whyNot: { ...nullable('string'), description: 'why this manager may not act on the cluster now' },
                managers: { type: 'array', items: { type: 'string' } },
                views: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['manager', 'cluster', 'master', 'reachable', 'verdict', 'at', 'ageMs'],
                    properties: {
                      manager: { type: 'string' },
                      cluster: { type: 'string' },
                      master: { type: 'string' },
                      reachable: { type: 'boolean' },
                      verdict: { type: 'string' },
                      at: { type: 'string' },
                      failingSince: { type: 'string' },
                      ageMs: { type: 'number' },
                    },
                  },
                },
                viewMaxAgeMs: { type: 'number', description: 'a view older than this counts for nothing in the verdict' },
                etcd: {
                  type: 'object',
                  required: ['reachable', 'lastOkAt', 'lastErrorAt', 'lastError'],
                  properties: { reachable: { type: 'boolean' }, lastOkAt: nullable('string'), lastErrorAt: nullable('string'), lastError: nullable('string') },
                },
                configMismatches: {
                  type: 'array',
                  description: 'this manager leads: the other managers whose configuration of the cluster differs from its own (parts: nodes, address, detection, failover) or lacks the cluster (kind missing)',
                  items: {
                    type: 'object',
                    required: ['manager', 'kind', 'parts', 'text'],
                    properties: { manager: { type: 'string' }, kind: { type: 'string', enum: ['missing', 'differs'] }, parts: { type: 'array', items: { type: 'string' } }, text: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
        Report: {
          type: 'object',
          description:
            'a failover report (kind failover) or a switchover report (kind switchover), as saved in the state directory; under heir.ha, as recorded in etcd: with the manager that ran it, and a report larger than 512 KB as its summary (truncated, the whole one at reportPath on that manager)',
          required: ['kind', 'id', 'cluster', 'outcome', 'summary'],
          properties: {
            kind: { enum: ['failover', 'switchover'] },
            id: { type: 'string' },
            cluster: { type: 'string' },
            outcome: { type: 'string' },
            summary: { type: 'string' },
            steps: { type: 'array', items: { type: 'object' } },
            hooks: { type: 'array', items: { type: 'object', required: ['hook', 'ok', 'detail'], properties: { hook: { type: 'string' }, ok: { type: 'boolean' }, detail: { type: 'string' } } } },
            reportPath: { type: 'string' },
            manager: { type: 'string', description: 'heir.ha: the manager that ran the operation (reportPath is on its disk)' },
            truncated: { type: 'boolean', description: 'heir.ha: only a summary is in etcd (the whole report is at reportPath on manager)' },
            bytes: { type: 'number', description: 'with truncated: the size of the whole report (JSON)' },
            warnings: { type: 'array', items: { type: 'string' } },
          },
        },
        Step: {
          type: 'object',
          required: ['name', 'outcome', 'detail'],
          properties: {
            name: { type: 'string' },
            outcome: { enum: ['running', 'ok', 'failed', 'skipped'] },
            node: { type: 'string' },
            startedAt: { type: 'string' },
            durationMs: { type: 'number' },
            detail: { type: 'string' },
          },
        },
        Operation: {
          type: 'object',
          required: ['id', 'kind', 'cluster', 'state', 'request', 'requestedBy', 'createdAt', 'updatedAt', 'finishedAt', 'steps', 'result', 'report', 'error'],
          properties: {
            id: { type: 'string' },
            kind: { enum: ['switchover', 'failover'] },
            cluster: { type: 'string' },
            state: { enum: ['running', 'succeeded', 'failed'] },
            request: { type: 'object', properties: { to: { type: 'string' } } },
            requestedBy: { type: 'string' },
            createdAt: { type: 'string' },
            updatedAt: { type: 'string' },
            finishedAt: nullable('string'),
            steps: { type: 'array', items: ref('Step'), description: 'the steps so far (a failover\'s as each ends)' },
            result: {
              description: 'when done: ok, message, outcome, the ids and masters, reportPath',
              oneOf: [
                { type: 'null' },
                {
                  type: 'object',
                  required: ['ok', 'message', 'outcome'],
                  properties: { ok: { type: 'boolean' }, message: { type: 'string' }, outcome: { type: 'string' }, id: { type: 'string' }, reportPath: nullable('string') },
                },
              ],
            },
            report: { description: 'when done: the report', oneOf: [{ type: 'null' }, ref('Report')] },
            error: {
              description: 'when it failed without a report',
              oneOf: [{ type: 'null' }, { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } }],
            },
            forwardedTo,
          },
        },
        AckResult: {
          type: 'object',
          required: ['ok', 'message', 'journals', 'hadBlock', 'blocked'],
          properties: {
            ok: { type: 'boolean' },
            message: { type: 'string' },
            journals: { type: 'array', items: { type: 'string' } },
            hadBlock: { type: 'boolean' },
            blocked: { type: 'boolean' },
            forwardedTo,
          },
        },
      },
    },
  };
}
