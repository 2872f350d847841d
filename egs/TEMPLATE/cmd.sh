# How the stage script (egs/TEMPLATE/tse.sh) launches jobs (utils/launch.sh: JOB=1:N <log> <command>).
# This machine (default): jobs run here, in parallel.
export train_cmd="utils/launch.sh"
export cuda_cmd="utils/launch.sh"
export decode_cmd="utils/launch.sh"

# A Slurm cluster: uncomment and adapt (options: --mem --gpu --time --partition --cpus --slurm-opts).
# export train_cmd="utils/slurm.sh --mem 8G --time 04:00:00"
# export cuda_cmd="utils/slurm.sh --gpu 1 --cpus 4 --mem 32G --time 48:00:00"
# export decode_cmd="utils/slurm.sh --gpu 1 --mem 16G --time 04:00:00"
