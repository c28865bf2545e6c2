/**
 * Admin pages render a friendly 403 for everyone else (and answer HTTP 403 when server-rendered);
 * the procedures refuse non-admins on their own, this only keeps the UI honest.
 */
export async function useAdminGuard() {
  const { data: me } = await useMe()
  const allowed = computed(() => me.value?.isAdmin === true)
  if (import.meta.server && !allowed.value) {
    const event = useRequestEvent()
    if (event) setResponseStatus(event, me.value ? 403 : 401)
  }
  return { me, allowed }
}
