/**
 * Admin pages render a friendly 403 for everyone else (and answer HTTP 403 when server-rendered);
 * the procedures refuse non-admins on their own, this only keeps the UI honest.
 */
export function useAdminGuard() {
  const event = import.meta.server ? useRequestEvent() : undefined
  const { data: me } = useMe()
  const allowed = computed(() => me.value?.isAdmin === true)
  if (event && !allowed.value) setResponseStatus(event, me.value ? 403 : 401)
  return { me, allowed }
}
