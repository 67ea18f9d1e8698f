/* oauth: the instance as an OAuth 2.0 authorization server: /oauth_token.do (password,
 * refresh_token, client_credentials, authorization_code with PKCE), /oauth_auth.do with real
 * login and consent pages, and /oauth_revoke_token.do. */
#ifndef SG_SIM_OAUTH_H
#define SG_SIM_OAUTH_H

typedef struct sim_oauth sim_oauth;

sim_oauth *sim_oauth_new(void);
void sim_oauth_free(sim_oauth *o);

#endif
