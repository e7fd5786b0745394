/**
 * The one set of schemas: request validation is compiled from them once, and the OpenAPI
 * document is generated from them. Limits that come from configuration are parameters.
 */
import { Type, type Static } from '@sinclair/typebox';

export const TOPIC_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/-]*$';
/** No C0/C1 control characters and no DEL. */
export const NO_CONTROL_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F]*$';
export const MAX_NAME_LENGTH = 200;

export const EventSchema = Type.Object(
  {
    topic: Type.String({
      minLength: 1,
      maxLength: MAX_NAME_LENGTH,
      pattern: TOPIC_PATTERN,
      description: 'Hierarchical names such as app/prod/api are allowed.',
      examples: ['orders'],
    }),
    event_id: Type.String({
      minLength: 1,
      maxLength: MAX_NAME_LENGTH,
      pattern: NO_CONTROL_PATTERN,
      description: 'Unique per topic; UUID v7 or a content hash recommended.',
    }),
    timestamp: Type.String({
      format: 'date-time',
      description: 'RFC 3339 with an offset or Z; stored normalised to UTC.',
    }),
    source: Type.String({
      minLength: 1,
      maxLength: MAX_NAME_LENGTH,
      pattern: NO_CONTROL_PATTERN,
    }),
    payload: Type.Object({}, { additionalProperties: true, description: 'Any JSON object.' }),
  },
  { additionalProperties: false, $id: 'Event' },
);

export const ErrorSchema = Type.Object(
  {
    error: Type.String(),
    message: Type.String(),
    details: Type.Array(
      Type.Object({
        index: Type.Optional(Type.Integer()),
        field: Type.Optional(Type.String()),
        message: Type.String(),
      }),
    ),
  },
  { $id: 'Error' },
);

export const StoredEventSchema = Type.Object({
  offset: Type.Integer({ minimum: 1 }),
  topic: Type.String(),
  event_id: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
  source: Type.String(),
  payload: Type.Object({}, { additionalProperties: true }),
  processed_at: Type.String({ format: 'date-time' }),
});

export const PublishAcceptedSchema = Type.Object({ accepted: Type.Integer() });
export const PublishResultsSchema = Type.Object({
  accepted: Type.Integer(),
  results: Type.Array(
    Type.Object({
      topic: Type.String(),
      event_id: Type.String(),
      status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate')]),
      offset: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
});

export const PublishQuerySchema = Type.Object(
  { wait: Type.Optional(Type.Boolean({ description: 'Answer after the events are processed.' })) },
  { additionalProperties: false },
);

/** A route that takes no query parameters: any one is a mistake worth a 400, not ignored. */
export const NoQuerySchema = Type.Object({}, { additionalProperties: false });

export const MAX_QUERY_LIMIT = 10_000;
export const DEFAULT_QUERY_LIMIT = 1_000;

export const EventsQuerySchema = Type.Object(
  {
    // A name no topic can have is a bad parameter (400), not a filter that matches nothing.
    topic: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: TOPIC_PATTERN }),
    ),
    source: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH })),
    after: Type.Integer({
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 0,
      description: 'Offset, exclusive.',
    }),
    before: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Offset, exclusive (to page backwards with order=desc).',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT, default: DEFAULT_QUERY_LIMIT }),
    order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' }),
  },
  { additionalProperties: false },
);
export type EventsQuery = Static<typeof EventsQuerySchema>;

export const EventKeyParamsSchema = Type.Object({
  topic: Type.String(),
  event_id: Type.String(),
});

export const StatsSchema = Type.Object({
  received: Type.Integer(),
  unique_processed: Type.Integer(),
  duplicate_dropped: Type.Integer(),
  queue_depth: Type.Integer(),
  stored: Type.Integer({ description: 'Events retained now (what /events can return).' }),
  expired: Type.Integer({ description: 'Events removed by retention, lifetime.' }),
  stored_bytes: Type.Integer({ description: 'Bytes of the retained events (README "Retention").' }),
  retention: Type.Object({
    max_age_seconds: Type.Union([Type.Number(), Type.Null()]),
    max_bytes: Type.Union([Type.Integer(), Type.Null()]),
    dedup_window_seconds: Type.Union([Type.Number(), Type.Null()]),
  }),
  rejected: Type.Integer({ description: 'Rejected /publish requests since start.' }),
  topics: Type.Array(Type.String(), { description: 'The first 1,000 topic names, by name.' }),
  topics_total: Type.Integer({ description: 'How many topics there are.' }),
  uptime_seconds: Type.Number(),
  started_at: Type.String({ format: 'date-time' }),
  workers: Type.Integer(),
  mode: Type.String(),
});

export const DEFAULT_TOPICS_LIMIT = 1_000;

export const TopicsQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT, default: DEFAULT_TOPICS_LIMIT }),
    after: Type.Optional(
      Type.String({ maxLength: MAX_NAME_LENGTH, description: 'Topic name, exclusive.' }),
    ),
  },
  { additionalProperties: false },
);
export type TopicsQuery = Static<typeof TopicsQuerySchema>;

export const TopicSchema = Type.Object({
  topic: Type.String(),
  unique: Type.Integer(),
  duplicates: Type.Integer(),
  stored: Type.Integer({ description: 'Events of the topic retained now.' }),
  last_offset: Type.Union([Type.Integer(), Type.Null()]),
  last_processed_at: Type.Union([Type.String(), Type.Null()]),
});

export const HealthSchema = Type.Object({
  status: Type.String(),
  checks: Type.Optional(Type.Record(Type.String(), Type.Boolean())),
});
