import { metricsText } from '../observability/metrics'

/** Prometheus metrics of this web instance. */
export default defineEventHandler(async (event) => {
  const { contentType, body } = await metricsText()
  setResponseHeader(event, 'content-type', contentType)
  return body
})
