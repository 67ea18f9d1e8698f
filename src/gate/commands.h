/* commands: the snowgate subcommands other than serve. */
#ifndef SG_GATE_COMMANDS_H
#define SG_GATE_COMMANDS_H

/* `snowgate user ...`; argv[0] is "user". Returns the exit status. */
int sg_cmd_user(int argc, char **argv, char **envp);

/* `snowgate servicenow provision ...`; argv[0] is "servicenow". */
int sg_cmd_servicenow(int argc, char **argv, char **envp);

/* `snowgate audit verify`; argv[0] is "audit". */
int sg_cmd_audit(int argc, char **argv, char **envp);

/* `snowgate migrate`; argv[0] is "migrate". */
int sg_cmd_migrate(int argc, char **argv, char **envp);

/* `snowgate config example`; argv[0] is "config". */
int sg_cmd_config(int argc, char **argv, char **envp);

/* `snowgate doctor`; argv[0] is "doctor". */
int sg_cmd_doctor(int argc, char **argv, char **envp);

/* `snowgate store copy ...`; argv[0] is "store". */
int sg_cmd_store(int argc, char **argv, char **envp);

#endif
