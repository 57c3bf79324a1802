export * from './events';
export {
  buildRequest,
  judgeResponse,
  genericSignature,
  standardWebhookSignature,
  webhookKey,
  dingtalkSign,
  feishuSign,
  eventTitle,
  type WebhookRequest,
  type WebhookType,
  type FormatOptions,
  type ResponseVerdict,
} from './format';
export { Notifier, type NotifierOptions, type DeliveryResult, type Counters, type WebhookStats } from './notifier';
